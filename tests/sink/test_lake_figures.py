"""The lake manifest's figures of each partition (live rows, tombstones, first-key range,
oldest tombstone) against what its key index really holds, batch after batch."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from sinks.lake import LakeEngine, figures, load
from sinks.lake.figures import micros
from sinks.retention import Expiry
from tests.sink.test_lake import changes, spark_state

WEEK = timedelta(days=7)
START = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


Truth = dict[str, tuple[int, int, int, int, int | None]]


def key_index(spark: SparkSession, path: Path) -> Truth:
    """Per partition folder: live keys, tombstones, lowest and highest key, and when its
    oldest tombstone was written, read from the key index itself."""
    out: Truth = {}
    for r in spark.read.parquet(str(path / "_cdc" / "keys")).collect():
        folder = "day=__HIVE_DEFAULT_PARTITION__" if r["day"] is None else f"day={r['day']}"
        live, dead, lo, hi, oldest = out.get(folder, (0, 0, r["id"], r["id"], None))
        if r["_deleted"] and r["_deleted_at"] is not None:
            at = micros(r["_deleted_at"].replace(tzinfo=UTC))
            oldest = at if oldest is None else min(oldest, at)
        dead_now = dead + bool(r["_deleted"])
        out[folder] = (
            live + (not r["_deleted"]),
            dead_now,
            min(lo, r["id"]),
            max(hi, r["id"]),
            oldest,
        )
    return out


def check(lake: LakeEngine, truth: Truth) -> None:
    """Counts exact; each range holds every key of its partition; the oldest tombstone
    recorded no later than the real one (a bound that errs towards reading back)."""
    entries = lake.manifest.partitions
    assert set(entries) == set(truth)
    for folder, (live, dead, lo, hi, oldest) in truth.items():
        e = entries[folder]
        assert (e.rows, e.tombstones) == (live, dead), folder
        assert e.min_key is not None and e.max_key is not None
        assert int(e.min_key) <= lo and hi <= int(e.max_key), folder
        if dead and e.oldest_tombstone is not None:
            assert oldest is not None and e.oldest_tombstone <= oldest, folder


def counted_read_backs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per read of a staged key index (sinks/lake/load.py `staged_figures`)."""
    seen: list[int] = []

    def counted(*args: Any) -> figures.Figures:
        seen.append(1)
        return figures.read_back(*args)

    monkeypatch.setattr(load, "read_back", counted)
    return seen


@pytest.fixture
def read_backs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per read of a staged key index."""
    return counted_read_backs(monkeypatch)


def test_a_batch_settles_its_figures_from_its_decision_without_reading_them_back(
    spark: SparkSession, tmp_path: Path, read_backs: list[int]
) -> None:
    path = tmp_path / "t"
    lake = LakeEngine(spark, str(path), keys=["id"], partition_by=("day",))
    first = [
        (1, "a", 1, "I", "1", "p1"),
        (12, "b", 1, "I", "1", "p2"),
        (12, "b2", 1, "U", "2", "p3"),  # the later change of key 12 wins: one row
        (3, "c", 2, "I", "1", "p4"),
        (7, None, 2, "D", "1", "p5"),  # a delete of a key never seen: a tombstone
        (5, "n", None, "I", "1", "p6"),  # the NULL partition
        (9, None, None, "D", "1", "p7"),
    ]
    result = lake.apply(changes(spark, first), 0, "w")
    assert (result.changes_in, result.upserts, result.deletes, result.stale) == (6, 4, 2, 0)
    assert result.rows_in_table == 4
    check(lake, key_index(spark, path))
    assert lake.manifest.partitions["day=1"].max_key == "12"  # compared as numbers

    # Key 3 moves to day 1, key 1 is deleted, key 7's tombstone comes back to life.
    second = [
        (3, "c2", 1, "U", "2", "q1"),
        (1, None, 1, "D", "2", "q2"),
        (7, "g", 2, "U", "2", "q3"),
    ]
    result = lake.apply(changes(spark, second), 1, "w")
    assert result.rows_in_table == 4
    truth = key_index(spark, path)
    check(lake, truth)
    assert truth["day=2"][:2] == (1, 0) and lake.manifest.partitions["day=2"].min_key == "3"
    assert read_backs == []  # nothing could have expired: nothing was read back


def test_a_partition_that_may_hold_an_expired_tombstone_is_read_back_and_left_exact(
    spark: SparkSession, tmp_path: Path, read_backs: list[int]
) -> None:
    path, clock = tmp_path / "t", Clock()
    lake = LakeEngine(
        spark, str(path), keys=["id"], partition_by=("day",), expiry=Expiry(WEEK, clock=clock)
    )
    lake.apply(changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, None, 1, "D", "1", "p2")]), 0, "w")
    assert lake.manifest.partitions["day=1"].oldest_tombstone == micros(START)
    clock.now = START + timedelta(days=3)
    lake.apply(changes(spark, [(3, "c", 1, "I", "1", "q1")]), 1, "w")
    assert read_backs == []  # its tombstone is 3 days old: it stays
    clock.now = START + WEEK + timedelta(seconds=1)
    lake.apply(changes(spark, [(4, "d", 1, "I", "1", "r1")]), 2, "w")
    assert read_backs == [1]  # the rewrite dropped the expired tombstone: counted again
    entry = lake.manifest.partitions["day=1"]
    assert (entry.rows, entry.tombstones, entry.min_key, entry.max_key) == (3, 0, "1", "4")
    assert entry.oldest_tombstone is None
    check(lake, key_index(spark, path))


def test_figures_hold_through_random_batches_with_moves_deletes_late_changes_and_expiry(
    spark: SparkSession, tmp_path: Path, read_backs: list[int]
) -> None:
    rng, clock = random.Random(11), Clock()
    path = tmp_path / "t"
    lake = LakeEngine(
        spark, str(path), keys=["id"], partition_by=("day",), expiry=Expiry(WEEK, clock=clock)
    )
    for batch in range(8):
        rows = []
        for n in range(25):
            key, day = rng.randrange(40), rng.choice([1, 2, 3, None])
            op = rng.choice("IUUD")
            late = rng.random() < 0.2  # an older sequence than the last batch's
            seq = f"{batch - 1 if late and batch else batch:03d}{n:03d}"
            rows.append((key, f"v{batch}.{n}", day, op, seq, f"b{batch}.{n:03d}"))
        lake.apply(changes(spark, rows), batch, "w")
        check(lake, key_index(spark, path))
        clock.now += timedelta(days=2)
    assert len(spark_state(spark, path)) == lake.manifest.rows
    assert 0 < len(read_backs) < 8  # both ways: settled, and read back after an expiry

"""A lake table's first batch (sinks/lake/load.py): written before it is counted, its
figures read from the staged key files' footers, exactly what its key index holds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sinks.lake import LakeEngine, figures, load
from sinks.lake.figures import micros
from sinks.retention import Expiry
from tests.sink.test_lake import changes, spark_state
from tests.sink.test_lake_figures import counted_read_backs, key_index
from tests.unit.test_parquet_widening import spark_jobs

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)

# 30 keys inserted over days 0-2; keys 0-9 then updated into day 7; keys 20-24 deleted;
# keys 100-102, never inserted, deleted without a day (key-only deletes)
ROWS = [
    *[(k, f"n{k}", k % 3, "I", "1", f"p{k:04d}") for k in range(30)],
    *[(k, f"u{k}", 7, "U", "2", f"q{k:04d}") for k in range(10)],
    *[(k, None, k % 3, "D", "3", f"r{k:04d}") for k in range(20, 25)],
    *[(k, None, None, "D", "1", f"s{k:04d}") for k in range(100, 103)],
]


@pytest.fixture
def read_backs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per read of a staged key index by the first batch."""
    return counted_read_backs(monkeypatch)


def lake(spark: SparkSession, path: Path) -> LakeEngine:
    return LakeEngine(
        spark, str(path), keys=["id"], partition_by=["day"], expiry=Expiry(clock=lambda: NOW)
    )


def exact(engine: LakeEngine, spark: SparkSession, path: Path) -> None:
    """The manifest's figures are the key index's, to the key, and its tombstones' time."""
    truth = key_index(spark, path)
    entries = engine.manifest.partitions
    assert set(entries) == set(truth)
    for folder, (live, dead, lo, hi, oldest) in truth.items():
        e = entries[folder]
        assert (e.rows, e.tombstones, e.min_key, e.max_key) == (live, dead, str(lo), str(hi))
        assert e.oldest_tombstone == oldest


def test_a_first_batch_is_counted_from_its_footers_exactly(
    spark: SparkSession, tmp_path: Path, read_backs: list[int]
) -> None:
    engine = lake(spark, tmp_path)
    result = engine.apply(changes(spark, ROWS), 0, "w")
    assert (result.upserts, result.deletes, result.stale, result.changes_in) == (25, 8, 0, 33)
    assert read_backs == []  # every figure came from a footer
    exact(engine, spark, tmp_path)
    folders = engine.manifest.partitions
    assert folders["day=__HIVE_DEFAULT_PARTITION__"].tombstones == 3
    assert folders["day=7"].rows == 10
    assert folders["day=2"].oldest_tombstone == micros(NOW)
    live = {(k, f"u{k}" if k < 10 else f"n{k}", 7 if k < 10 else k % 3) for k in range(30)}
    assert spark_state(spark, tmp_path) == {r for r in live if not 20 <= r[0] < 25}
    # the next batch judges against it: a late update of a deleted key is refused
    late = engine.apply(changes(spark, [(21, "late", 0, "U", "2", "t0001")]), 1, "w")
    assert (late.upserts, late.stale) == (0, 1)


def test_a_first_batch_runs_one_spark_job_per_write(spark: SparkSession, tmp_path: Path) -> None:
    engine = lake(spark, tmp_path)
    batch = changes(spark, ROWS)
    with spark_jobs(spark, f"first-{uuid.uuid4().hex}") as jobs:
        engine.apply(batch, 0, "w")
    assert len(jobs) == 2, jobs  # the data, the key index: nothing counted before


def test_a_key_its_footer_cannot_tell_is_read_back_with_the_same_figures(
    spark: SparkSession, tmp_path: Path, read_backs: list[int]
) -> None:
    """Parquet keeps no bounds of a text value over 4 KB, and none Python can compare
    for a date key: the staged key index is read back instead."""
    long_key = "k" * 5_000
    texts = [(long_key, "a", 1, "I", "1", "p1"), ("short", "b", 2, "I", "1", "p2")]
    frame = spark.createDataFrame(
        [(*r, None) for r in texts],
        "id string, name string, day int, _op string, _seq string, _pos string, "
        "_commit_ts timestamp",
    )
    engine = lake(spark, tmp_path / "text")
    engine.apply(frame, 0, "w")
    assert read_backs == [1]
    entries = engine.manifest.partitions
    assert (entries["day=1"].rows, entries["day=1"].min_key) == (1, long_key)
    assert (entries["day=2"].rows, entries["day=2"].max_key) == (1, "short")

    dates = spark.createDataFrame(
        [(datetime(2026, 1, d).date(), "x", d, "I", "1", f"p{d}", None) for d in (3, 9)],
        "id date, name string, day int, _op string, _seq string, _pos string, _commit_ts timestamp",
    )
    engine = lake(spark, tmp_path / "dates")
    engine.apply(dates, 0, "w")
    assert read_backs == [1, 1]
    assert engine.manifest.partitions["day=9"].min_key == "2026-01-09"


def test_footers_tell_text_keys_and_files_without_rows(spark: SparkSession, tmp_path: Path) -> None:
    """Bounds of text keys as text, several files of a partition combined, and a file
    with no row (Spark writes one for an empty task) counting nothing."""
    frame = spark.createDataFrame(
        [("b", None), ("é", NOW), ("a", None)], "id string, _deleted_at timestamp"
    )
    frame.repartition(3).write.parquet(str(tmp_path / "p"))
    frame.limit(0).write.parquet(str(tmp_path / "empty"))
    names = [str(p) for p in sorted((tmp_path / "p").glob("*.parquet"))]
    names += [str(p) for p in (tmp_path / "empty").glob("*.parquet")]
    found = load.footer_figures(
        spark, {"x=1": names}, ("id", 0, 1), frame.schema["id"].dataType, written=NOW
    )
    assert found is not None
    assert found["x=1"] == figures.Staged(2, 1, "a", "é", micros(NOW))
    # a file whose columns are not where a key file has them is not guessed at
    assert load.footer_figures(spark, {"": names}, ("id", 1, 0), frame.schema["id"].dataType,
                               written=NOW) is None  # fmt: skip


def test_a_load_of_many_partitions_is_read_back_in_one_job(
    spark: SparkSession, tmp_path: Path, read_backs: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `FOOTER_FILES` staged key files, one Spark job reads them back: the same
    figures, in 3 jobs."""
    monkeypatch.setattr(load, "FOOTER_FILES", 2)
    engine = lake(spark, tmp_path)
    with spark_jobs(spark, f"many-{uuid.uuid4().hex}") as jobs:
        engine.apply(changes(spark, ROWS), 0, "w")
    assert read_backs == [1]
    assert len(jobs) == 3, jobs
    exact(engine, spark, tmp_path)

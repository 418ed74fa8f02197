"""What is specific to the lake engine; the shared rules are in tests/contract.

Changes are given directly in canonical form: keys, payload, _op, _seq, _pos.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow.dataset as pads
import pytest
from pyspark.sql import DataFrame, SparkSession

from sinks.crash import SimulatedCrashError
from sinks.lake import LakeEngine, files
from sinks.lake.candidates import candidate_partitions
from tests.unit.test_parquet_widening import spark_jobs

SCHEMA = "id int, name string, day int, _op string, _seq string, _pos string, _commit_ts timestamp"


def changes(spark: SparkSession, rows: Sequence[tuple[object, ...]]) -> DataFrame:
    return spark.createDataFrame([(*r, None) for r in rows], SCHEMA)


def engine(spark: SparkSession, path: Path, partition_by: tuple[str, ...] = ("day",)) -> LakeEngine:
    return LakeEngine(spark, str(path), keys=["id"], partition_by=partition_by)


def spark_state(spark: SparkSession, path: Path) -> set[tuple[int, str | None, int | None]]:
    if not any(p.name.startswith("day=") or p.suffix == ".parquet" for p in path.iterdir()):
        return set()
    rows = spark.read.parquet(str(path)).select("id", "name", "day").collect()
    return {(r["id"], r["name"], r["day"]) for r in rows}


def arrow_state(path: Path) -> set[tuple[int, str | None, int | None]]:
    table = pads.dataset(str(path), format="parquet", partitioning="hive").to_table()
    data = table.to_pydict()
    return set(zip(data["id"], data["name"], data["day"], strict=True))


def partition_files(path: Path) -> dict[str, list[str]]:
    return {
        p.name: sorted(f.name for f in p.iterdir() if f.suffix == ".parquet")
        for p in path.iterdir()
        if p.name.startswith("day=")
    }


@pytest.fixture
def crash_raise(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("STREAM_CDC_CRASH_MODE", "raise")
    yield monkeypatch


def test_inserts_become_visible_to_spark_and_pyarrow_without_bookkeeping(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = engine(spark, tmp_path / "t")
    result = lake.apply(
        changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, "b", 2, "I", "1", "p2")]), 0, "w"
    )
    assert (result.upserts, result.deletes, result.rows_in_table) == (2, 0, 2)
    expected = {(1, "a", 1), (2, "b", 2)}
    assert spark_state(spark, tmp_path / "t") == expected
    assert arrow_state(tmp_path / "t") == expected
    columns = set(spark.read.parquet(str(tmp_path / "t")).columns)
    assert columns == {"id", "name", "day"}


def test_update_moving_partition_leaves_no_copy_and_removes_empty_partition(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = engine(spark, tmp_path / "t")
    lake.apply(changes(spark, [(1, "a", 1, "I", "1", "p1")]), 0, "w")
    lake.apply(changes(spark, [(1, "moved", 5, "U", "2", "p2")]), 1, "w")
    assert spark_state(spark, tmp_path / "t") == {(1, "moved", 5)}
    assert not (tmp_path / "t" / "day=1").exists()


def test_only_affected_partitions_are_rewritten(spark: SparkSession, tmp_path: Path) -> None:
    lake = engine(spark, tmp_path / "t")
    lake.apply(
        changes(spark, [(i, f"n{i}", i, "I", "1", f"p{i:03d}") for i in range(1, 11)]), 0, "w"
    )
    before = partition_files(tmp_path / "t")
    result = lake.apply(
        changes(spark, [(3, "x", 3, "U", "2", "q1"), (4, "y", 12, "U", "2", "q2")]), 1, "w"
    )
    after = partition_files(tmp_path / "t")
    assert result.partitions_rewritten == 3  # day=3, day=4 (row left), day=12 (row arrived)
    untouched = {f"day={d}" for d in (1, 2, 5, 6, 7, 8, 9, 10)}
    assert {p: after[p] for p in untouched} == {p: before[p] for p in untouched}
    assert after["day=3"] != before["day=3"]
    assert "day=4" not in after


def test_key_lookup_reads_only_partitions_whose_key_range_can_match(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = engine(spark, tmp_path / "t")
    rows = [(i, f"n{i}", i // 100, "I", "1", f"p{i:05d}") for i in range(1000)]
    lake.apply(changes(spark, rows), 0, "w")
    probe = changes(spark, [(950, "x", 9, "U", "2", "q1"), (5000, "new", 50, "I", "2", "q2")])
    assert candidate_partitions(probe, lake.manifest, "id") == ["day=9"]


def test_unpartitioned_table_is_rewritten_whole(spark: SparkSession, tmp_path: Path) -> None:
    lake = engine(spark, tmp_path / "t", partition_by=())
    lake.apply(changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, "b", 2, "I", "1", "p2")]), 0, "w")
    lake.apply(changes(spark, [(1, None, None, "D", "2", "p3")]), 1, "w")
    assert arrow_state(tmp_path / "t") == {(2, "b", 2)}


WIDER = "id int, name string, day int, note string, _op string, _seq string, _pos string"


def test_a_new_column_reaches_every_file_so_any_reader_sees_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = engine(spark, tmp_path / "t")
    lake.apply(changes(spark, [(i, f"n{i}", i, "I", "1", f"p{i}") for i in range(1, 6)]), 0, "w")
    wider = spark.createDataFrame([(2, "b", 2, "noted", "U", "2", "q1")], WIDER)
    result = lake.apply(wider, 1, "w")
    assert result.partitions_rewritten == 5  # once, at the change of schema
    for day in (tmp_path / "t").glob("day=*"):
        for part in day.glob("*.parquet"):
            assert "note" in pads.dataset(str(part), format="parquet").schema.names, part
    one_file_schema = spark.read.option("mergeSchema", "false").parquet(str(tmp_path / "t"))
    assert "note" in one_file_schema.columns
    # The next batch of the same schema rewrites only what it touches again.
    again = spark.createDataFrame([(3, "c", 3, "x", "U", "3", "q2")], WIDER)
    assert lake.apply(again, 2, "w").partitions_rewritten == 1


def test_a_batch_without_a_known_column_keeps_it_as_null(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = engine(spark, tmp_path / "t")
    lake.apply(spark.createDataFrame([(1, "a", 1, "kept", "I", "1", "p1")], WIDER), 0, "w")
    lake.apply(changes(spark, [(2, "b", 1, "I", "2", "p2")]), 1, "w")
    rows = spark.read.parquet(str(tmp_path / "t")).select("id", "note").collect()
    assert {(r["id"], r["note"]) for r in rows} == {(1, "kept"), (2, None)}


@pytest.mark.parametrize("point", ["lake.after_staging", "lake.after_commit", "lake.mid_publish"])
def test_crash_anywhere_in_a_batch_then_restart_loses_and_doubles_nothing(
    spark: SparkSession, tmp_path: Path, crash_raise: pytest.MonkeyPatch, point: str
) -> None:
    path = tmp_path / "t"
    first = [(1, "a", 1, "I", "1", "p1"), (2, "b", 2, "I", "1", "p2")]
    engine(spark, path).apply(changes(spark, first), 0, "w")
    second = changes(spark, [(1, "a2", 3, "U", "2", "p3"), (2, None, None, "D", "2", "p4")])
    crash_raise.setenv("STREAM_CDC_CRASH_AT", point)
    with pytest.raises(SimulatedCrashError):
        engine(spark, path).apply(second, 1, "w")
    crash_raise.delenv("STREAM_CDC_CRASH_AT")
    # Whatever the crash left, readers can read it.
    arrow_state(path)
    restarted = engine(spark, path)
    restarted.recover()
    if point == "lake.after_staging":  # not committed: the lake still shows batch 0
        assert spark_state(spark, path) == {(1, "a", 1), (2, "b", 2)}
    else:  # committed: rolled forward without re-running the batch
        assert spark_state(spark, path) == {(1, "a2", 3)}
    # Spark re-runs the uncommitted batch: applied once, whatever happened before.
    restarted.apply(second, 1, "w")
    assert spark_state(spark, path) == {(1, "a2", 3)}
    assert arrow_state(path) == {(1, "a2", 3)}
    assert not (path / "_cdc" / "staging").exists() or not os.listdir(path / "_cdc" / "staging")


def _stages(spark: SparkSession, jobs: list[int]) -> int:
    """Spark stages (skipped ones included) of the jobs `jobs`."""
    tracker = spark.sparkContext.statusTracker()
    infos = [tracker.getJobInfo(j) for j in jobs]
    return sum(len(info.stageIds) for info in infos if info is not None)


def test_a_small_batch_is_written_without_a_shuffle_one_file_a_partition(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [(i, f"n{i}", i % 5, "I", "1", f"p{i:03d}") for i in range(60)]
    batch = changes(spark, rows).repartition(4)  # every partition of the batch in each task
    update = [(i, f"u{i}", i % 7, "U", "2", f"q{i:03d}") for i in range(0, 60, 3)]
    stages = {}
    for side, limit in (("one task", 1_000), ("shuffled", 0)):
        monkeypatch.setattr(files, "ONE_TASK_ROWS", limit)  # counted: a later batch
        monkeypatch.setattr(files, "ONE_TASK_BYTES", limit * 1_000)  # the first (load.py)
        lake = engine(spark, tmp_path / side)
        with spark_jobs(spark, f"first-batch-{uuid.uuid4().hex}") as jobs:
            lake.apply(batch, 0, "w")
        stages[side] = _stages(spark, jobs)
        lake.apply(changes(spark, update).repartition(3), 1, "w")
        assert all(len(names) == 1 for names in partition_files(tmp_path / side).values())
        keys = tmp_path / side / "_cdc" / "keys"
        assert all(len(list(p.glob("*.parquet"))) == 1 for p in keys.iterdir() if p.is_dir())
    assert spark_state(spark, tmp_path / "one task") == spark_state(spark, tmp_path / "shuffled")
    assert stages["one task"] < stages["shuffled"], stages


def test_a_steady_batch_runs_in_at_most_eight_spark_jobs(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Candidate partitions 1, decision and figures 3 (the count and two broadcasts),
    each of the two writes 2 (the touched keys' broadcast, the write); docs/benchmarks.md.
    Spark may plan a small table's with fewer broadcasts."""
    lake = engine(spark, tmp_path / "t")
    lake.apply(
        changes(spark, [(i, f"n{i}", i // 10, "I", "1", f"p{i:03d}") for i in range(50)]), 0, "w"
    )
    steady = [
        (3, "u", 0, "U", "2", "q1"),  # an update in place
        (14, "m", 4, "U", "2", "q2"),  # a move to another day
        (25, None, 2, "D", "2", "q3"),  # a delete
        (70, "new", 5, "I", "2", "q4"),  # an insert into a new day
        (31, "late", 3, "U", "0", "q5"),  # late: refused by the guard
    ]
    with spark_jobs(spark, f"steady-{uuid.uuid4().hex}") as jobs:
        result = lake.apply(changes(spark, steady), 1, "w")
    assert (result.upserts, result.deletes, result.stale) == (3, 1, 1)
    assert len(jobs) <= 8, len(jobs)
    assert len(spark_state(spark, tmp_path / "t")) == 50

"""What Iceberg's file metrics decide (sinks/file_ranges.py over sinks/iceberg/key_files.py):
the key-table read takes only the partitions whose files may hold a batch's keys and
decides exactly as with the key range alone; the key table's MERGE carries the clause that
deletes expired tombstones only when its scope may hold one, and retention keeps its
contract. A MERGE's listed partitions reach Iceberg's file skipping."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import IntegerType, StructField, StructType

import sinks.iceberg.engine as iceberg_engine
from sinks import file_ranges
from sinks.iceberg import IcebergEngine
from sinks.iceberg.merge import merge_keys_sql
from sinks.merge_scope import in_partitions, in_partitions_pushed
from sinks.retention import Expiry
from tests.contract import test_retention
from tests.contract.targets import iceberg_target
from tests.sink.statistics_cases import EXPIRING, MOVED, NEVER, apply_moves, opened_state
from tests.sink.test_iceberg import changes, engine
from tests.unit.test_parquet_widening import spark_jobs


def data_files_read(df: DataFrame) -> int:
    """Data files Iceberg's scans of `df`'s plan planned, after partition and bounds
    skipping (Iceberg's `resultDataFiles` scan metric)."""
    plan = df._jdf.queryExecution().executedPlan()
    plan.executeCollect()
    leaves = plan.collectLeaves()
    total = 0
    for i in range(leaves.size()):
        metric = leaves.apply(i).metrics().get("resultDataFiles")
        if metric.isDefined():
            total += int(metric.get().value())
    return total


def unique(root: Path) -> Path:
    """A table root whose name (the engine's Spark catalog name) no other test uses: the
    session keeps a catalog's warehouse for the catalog's name."""
    return root / f"t{uuid.uuid4().hex[:8]}"


def files_of_days(spark: SparkSession, table: str, days: set[int | None] | None = None) -> int:
    """Data files of `table` (quoted SQL name) in the partitions of `days` (None: all), as
    its metadata lists them: how many a write makes per partition is Spark's business."""
    listed = [r["partition"]["day"] for r in spark.table(f"{table}.data_files").collect()]
    return sum(1 for day in listed if days is None or day in days)


def published(spark: SparkSession, iceberg: IcebergEngine) -> set[tuple[object, ...]]:
    rows = spark.table(iceberg.catalog.table(iceberg.table)).select("id", "name", "day")
    return {tuple(r) for r in rows.collect()}


@pytest.mark.parametrize("prune_from", [0, NEVER])
def test_key_table_read_skips_partitions_whose_files_cannot_hold_the_batch_keys(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prune_from: int
) -> None:
    """Keys 1 and 10 span the key range of all ten days; their files are those of two."""
    monkeypatch.setattr(file_ranges, "PRUNE_FROM_FILES", prune_from)
    iceberg = engine(spark, unique(tmp_path))
    iceberg.apply(changes(spark, [(k, "a", k, "I", "1", f"p{k}") for k in range(1, 11)]), 0, "w")
    batch = changes(spark, [(1, "b", 1, "U", "2", "q1"), (10, None, None, "D", "2", "q2")])
    held = opened_state(iceberg, batch, 1)
    key_table = iceberg.catalog.table(iceberg.key_table)
    days: set[int | None] | None = {1, 10} if prune_from == 0 else None
    assert data_files_read(held) == files_of_days(spark, key_table, days)
    assert files_of_days(spark, key_table, {1, 10}) < files_of_days(spark, key_table)
    assert {1, 10} <= {r["id"] for r in held.collect()}  # what the batch's keys need


def test_pruned_reads_hold_what_the_key_range_alone_holds_for_the_batch_keys(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moves between days (into and out of the NULL day), deletes of live and unknown keys,
    a re-insert after a delete, a late change and a late delete: before each batch, the
    key-table rows of its keys that the decision reads are the same whether the engine
    prunes from the first file or never, and the batches applied with pruning leave the
    rows they should."""
    iceberg = engine(spark, unique(tmp_path))
    apply_moves(iceberg, lambda rows: changes(spark, rows), monkeypatch)
    assert published(spark, iceberg) == MOVED


@pytest.mark.parametrize("scenario", EXPIRING)
@pytest.mark.parametrize("partition_by", [["day"], []])
def test_retention_holds_when_metrics_decide_the_expiry_clause(
    spark: SparkSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scenario: Callable[[test_retention.Make], None],
    partition_by: list[str],
) -> None:
    """The contract's retention scenarios where a tombstone expires, with the key table's
    metrics asked from its first file whether its MERGE needs the clause that deletes
    expired tombstones; unpartitioned too, where the metrics bound the key range alone."""
    monkeypatch.setattr(file_ranges, "PRUNE_FROM_FILES", 0)
    scenario(
        lambda expiry: iceberg_target(spark, tmp_path, expiry=expiry, partition_by=partition_by)
    )


def test_the_key_merge_deletes_expired_tombstones_only_when_its_scope_may_hold_one(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clause makes Spark read every file of the key table; tombstones kept forever
    never need it."""
    monkeypatch.setattr(file_ranges, "PRUNE_FROM_FILES", 0)
    asked: list[bool] = []
    real = merge_keys_sql

    def spy(*args: Any, delete_expired: bool = True, **kwargs: Any) -> str:
        asked.append(delete_expired and kwargs["expired_before"] is not None)
        return real(*args, delete_expired=delete_expired, **kwargs)

    monkeypatch.setattr(iceberg_engine, "merge_keys_sql", spy)
    clock = test_retention.Clock()
    t = iceberg_target(spark, tmp_path, expiry=Expiry(tombstones=test_retention.WEEK, clock=clock))
    t.apply([(1, "a", 1, "I", "1", "p1"), (2, "b", 1, "I", "1", "p2")], 0)  # an insert
    t.apply([(1, None, None, "D", "2", "p3")], 1)
    assert asked == [False]  # no tombstone before the batch
    clock.advance(timedelta(days=8))
    t.apply([(3, "c", 2, "I", "3", "p4")], 2)  # another partition: scope holds none
    assert asked == [False, False]
    t.apply([(0, "z", 1, "I", "4", "p5"), (2, "b2", 1, "U", "4", "p6")], 3)  # key 1's scope
    assert asked == [False, False, True]
    state = t.spark.table(t.engine.catalog.table(t.engine.key_table))  # type: ignore[attr-defined]
    assert state.where("_cdc_deleted").count() == 0

    asked.clear()
    forever = iceberg_target(spark, tmp_path / "forever", expiry=Expiry(tombstones=None))
    forever.apply([(1, "a", 1, "I", "1", "p1")], 0)
    forever.apply([(1, None, None, "D", "2", "p2"), (2, "b", 1, "I", "2", "p3")], 1)
    forever.apply([(2, "b2", 1, "U", "3", "p4")], 2)
    assert asked == [False, False]


def test_a_merge_scope_of_listed_partitions_reaches_icebergs_file_skipping(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Listed as equalities OR-ed, two of ten days are those days' files to read, NULL day
    included, and the rows are those of the `struct IN` form, which Iceberg never receives
    (it reads every file)."""
    iceberg = engine(spark, unique(tmp_path))
    rows = [(k, "a", k, "I", "1", f"p{k}") for k in range(1, 10)] + [(10, "n", None, "I", "1", "p")]
    iceberg.apply(changes(spark, rows), 0, "w")
    table = spark.table(iceberg.catalog.table(iceberg.table))
    days = StructType([StructField("day", IntegerType())])
    listed = [(3,), (None,)]
    pushed = table.where(in_partitions_pushed(days, listed, None))
    name = iceberg.catalog.table(iceberg.table)
    assert data_files_read(pushed) == files_of_days(spark, name, {3, None})
    assert data_files_read(table.where(in_partitions(days, listed, None))) == files_of_days(
        spark, name
    )
    assert {r["id"] for r in pushed.collect()} == {3, 10}
    assert {r["id"] for r in table.where(in_partitions(days, listed, None)).collect()} == {3, 10}


def test_a_steady_batch_asking_the_metrics_runs_in_at_most_eight_spark_jobs(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The jobs budget of a batch (docs/design.md), with every question asked of the
    metrics: the key range and the partitions that may hold the keys (the broadcast of the
    files' ranges, then the batch's job), the decision's count, whether the key MERGE's
    scope may hold an expired tombstone, and the two MERGEs."""
    monkeypatch.setattr(file_ranges, "PRUNE_FROM_FILES", 0)
    iceberg = engine(spark, unique(tmp_path))
    iceberg.apply(changes(spark, [(k, "a", k % 10, "I", "1", f"p{k}") for k in range(40)]), 0, "w")
    iceberg.apply(
        changes(spark, [(k, "b", k % 10, "U", "2", f"q{k}") for k in range(0, 40, 3)]), 1, "w"
    )
    batch = changes(
        spark,
        [
            (1, "c", 4, "U", "3", "r1"),
            (2, None, None, "D", "3", "r2"),
            (55, "n", 5, "I", "3", "r3"),
        ],
    )
    with spark_jobs(spark, f"iceberg-steady-{uuid.uuid4().hex}") as jobs:
        result = iceberg.apply(batch, 2, "w")
    assert (result.upserts, result.deletes) == (2, 1)
    assert len(jobs) <= 8

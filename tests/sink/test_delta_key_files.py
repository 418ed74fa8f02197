"""What Delta's file statistics decide (sinks/file_ranges.py over sinks/delta/key_files.py):
the key-table read takes only the partitions whose files may hold a batch's keys and
decides exactly as with the key range alone; the key table's MERGE deletes expired
tombstones only when its scope may hold one, and retention keeps its contract."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from sinks import file_ranges
from sinks.retention import Expiry
from tests.contract import test_retention
from tests.contract.targets import delta_target
from tests.sink.statistics_cases import EXPIRING, MOVED, NEVER, apply_moves, opened_state
from tests.sink.test_delta import changes, engine, state


def files_read(df: DataFrame) -> int:
    """Files the scans of `df`'s plan read, after Delta's partition and file skipping."""
    plan = df._jdf.queryExecution().executedPlan()
    plan.executeCollect()
    leaves = plan.collectLeaves()
    total = 0
    for i in range(leaves.size()):
        metric = leaves.apply(i).metrics().get("numFiles")
        if metric.isDefined():
            total += int(metric.get().value())
    return total


@pytest.mark.parametrize(("prune_from", "read"), [(0, 2), (NEVER, 10)])
def test_key_table_read_skips_partitions_whose_files_cannot_hold_the_batch_keys(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prune_from: int, read: int
) -> None:
    """Keys 1 and 10 span the key range of all ten days; their files are two of them."""
    monkeypatch.setattr(file_ranges, "PRUNE_FROM_FILES", prune_from)
    delta = engine(spark, str(tmp_path / "t"))
    delta.apply(changes(spark, [(k, "a", k, "I", "1", f"p{k}") for k in range(1, 11)]), 0, "w")
    batch = changes(spark, [(1, "b", 1, "U", "2", "q1"), (10, None, None, "D", "2", "q2")])
    held = opened_state(delta, batch, 1)
    assert files_read(held) == read
    assert {1, 10} <= {r["id"] for r in held.collect()}  # what the batch's keys need


def test_pruned_reads_hold_what_the_key_range_alone_holds_for_the_batch_keys(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moves between days (into and out of the NULL day), deletes of live and unknown keys,
    a re-insert after a delete, a late change and a late delete: before each batch, the
    key-table rows of its keys that the decision reads are the same whether the engine
    prunes from the first file or never (the decision is a function of them), and the
    batches applied with pruning leave the rows they should."""
    path = str(tmp_path / "t")
    apply_moves(engine(spark, path), lambda rows: changes(spark, rows), monkeypatch)
    assert state(spark, path) == MOVED


@pytest.mark.parametrize("scenario", EXPIRING)
def test_retention_holds_when_statistics_decide_the_expiry_clause(
    spark: SparkSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scenario: Callable[[test_retention.Make], None],
) -> None:
    """The contract's retention scenarios where a tombstone expires, with the key table's
    statistics asked from its first file whether its MERGE needs the clause that deletes
    expired tombstones (the others never reach the question)."""
    monkeypatch.setattr(file_ranges, "PRUNE_FROM_FILES", 0)
    scenario(lambda expiry: delta_target(spark, tmp_path, expiry=expiry))


def _expiry_clauses(spark: SparkSession, path: str) -> str:
    """The key table's last MERGE's NOT MATCHED BY SOURCE clauses, as Delta's history has them."""
    last = DeltaTable.forPath(spark, path).history(1).first()
    assert last is not None and last["operation"] == "MERGE"
    return str(last["operationParameters"]["notMatchedBySourcePredicates"])


def test_the_key_merge_deletes_expired_tombstones_only_when_its_scope_may_hold_one(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the clause Delta rewrites only the files the batch's keys are in; with it,
    every file of the scope. Tombstones kept forever never need it."""
    monkeypatch.setattr(file_ranges, "PRUNE_FROM_FILES", 0)
    clock = test_retention.Clock()
    t = delta_target(spark, tmp_path, expiry=Expiry(tombstones=test_retention.WEEK, clock=clock))
    state_path = t.engine.state_path  # type: ignore[attr-defined]
    t.apply([(1, "a", 1, "I", "1", "p1"), (2, "b", 1, "I", "1", "p2")], 0)
    t.apply([(1, None, None, "D", "2", "p3")], 1)
    assert _expiry_clauses(spark, state_path) == "[]"  # no tombstone before the batch
    clock.advance(timedelta(days=8))
    t.apply([(3, "c", 2, "I", "3", "p4")], 2)  # another partition: scope holds none
    assert _expiry_clauses(spark, state_path) == "[]"
    t.apply([(0, "z", 1, "I", "4", "p5"), (2, "b2", 1, "U", "4", "p6")], 3)  # key 1's scope
    assert "DELETE" in _expiry_clauses(spark, state_path).upper()
    assert t.spark.read.format("delta").load(state_path).where("_deleted").count() == 0

    forever = delta_target(spark, tmp_path / "forever", expiry=Expiry(tombstones=None))
    forever.apply([(1, "a", 1, "I", "1", "p1")], 0)
    forever.apply([(1, None, None, "D", "2", "p2"), (2, "b", 1, "I", "2", "p3")], 1)
    forever.apply([(2, "b2", 1, "U", "3", "p4")], 2)
    assert _expiry_clauses(spark, forever.engine.state_path) == "[]"  # type: ignore[attr-defined]

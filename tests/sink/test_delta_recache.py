"""A Delta batch's cached decision is not tied to the key table its last MERGE writes
(sinks/delta/table.py `_state_rows`): after a MERGE, Delta has Spark re-plan every cached
query that reads the MERGE's target."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from uuid import uuid4

from pyspark.sql import DataFrame, SparkSession

from sinks.delta import DeltaEngine

SCHEMA = "id int, name string, day int, _op string, _seq string, _pos string, _commit_ts timestamp"


def changes(spark: SparkSession, rows: Sequence[tuple[object, ...]]) -> DataFrame:
    return spark.createDataFrame([(*r, None) for r in rows], SCHEMA)


def job_descriptions(
    spark: SparkSession, engine: DeltaEngine, batch: DataFrame, n: int
) -> list[str]:
    """The descriptions of the Spark jobs the batch ran, in the order they started."""
    context, group = spark.sparkContext, f"recache-{uuid4().hex}"
    context.setJobGroup(group, "batch")
    try:
        engine.apply(batch, n, "w")
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    store = context._jsc.sc().statusStore()
    ids = sorted(context.statusTracker().getJobIdsForGroup(group))
    described = [store.job(i).description() for i in ids]
    return [str(d.get()) if d.isDefined() else "" for d in described]


def test_a_steady_batch_ends_with_its_key_tables_merge_and_the_next_is_judged_by_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The batch's decision, cached, reads the key table by its version, so no Spark job
    follows the key table's MERGE (read as the bare table, the decision was re-planned
    after it: a job over Delta's log); the next batch is judged by what that MERGE wrote."""
    path = str(tmp_path / "t")
    delta = DeltaEngine(spark, path, keys=["id"], partition_by=["day"])
    delta.apply(changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, "b", 2, "I", "1", "p2")]), 0, "w")
    delta.apply(changes(spark, [(1, "a2", 1, "U", "2", "p3")]), 1, "w")

    steady = changes(spark, [(2, None, None, "D", "3", "p4"), (3, "c", 3, "I", "3", "p5")])
    jobs = job_descriptions(spark, delta, steady, 2)
    assert jobs and "MERGE" in jobs[-1], jobs

    late = [(2, "b-late", 2, "U", "2", "p6"), (1, "a-late", 1, "U", "1", "p7")]
    assert delta.apply(changes(spark, late), 3, "w").stale == 2
    rows = spark.read.format("delta").load(path).select("id", "name", "day").collect()
    assert {tuple(r) for r in rows} == {(1, "a2", 1), (3, "c", 3)}

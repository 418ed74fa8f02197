"""The guarded MERGE baseline of the engine benchmarks agrees with the Delta engine: it is
the floor of a correct MERGE only if it is correct."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from bench.guarded import GuardedDeltaMerge
from bench.naive import NaiveDeltaMerge, wrong_keys
from sinks.delta import DeltaEngine

SCHEMA = "id int, name string, day int, _op string, _seq string, _pos string, _commit_ts timestamp"

# Each batch: (id, name, day, op, seq, pos). Late changes carry an older sequence value.
BATCHES: list[list[tuple[object, ...]]] = [
    [(1, "a", 1, "I", "1", "01"), (2, "b", 1, "I", "1", "02"), (3, "c", 2, "I", "1", "03")],
    [
        (1, None, None, "D", "3", "04"),  # a delete carrying only its key
        (2, "b2", 2, "U", "3", "05"),  # moves to day 2
        (4, "d", 2, "D", "3", "06"),  # a delete of a key never seen
        (3, "c2", 2, "U", "3", "07"),
        (3, "c3", 2, "U", "3", "08"),  # the same key twice: the later position wins
    ],
    [
        (1, "late", 1, "U", "2", "09"),  # older than the delete: must not bring 1 back
        (2, "stale", 1, "U", "2", "10"),  # older than what is held: ignored
        (4, "late", 2, "I", "2", "11"),  # older than the tombstone of a key never seen
        (5, "e", 3, "I", "4", "12"),
        (3, None, None, "D", "4", "13"),
    ],
    [(3, "back", 3, "I", "5", "14"), (5, "e2", 3, "U", "5", "15")],
]


def frame(spark: SparkSession, rows: Sequence[tuple[object, ...]]) -> DataFrame:
    return spark.createDataFrame([(*r, None) for r in rows], SCHEMA)


def test_guarded_merge_ends_where_the_delta_engine_does(
    spark: SparkSession, tmp_path: Path
) -> None:
    delta = DeltaEngine(spark, str(tmp_path / "delta"), keys=["id"], partition_by=["day"])
    guarded = GuardedDeltaMerge(spark, str(tmp_path / "guarded"), keys=["id"], partition_by=["day"])
    naive = NaiveDeltaMerge(spark, str(tmp_path / "naive"), keys=["id"], partition_by=["day"])
    for batch_id, rows in enumerate(BATCHES):
        for engine in (delta, guarded, naive):
            engine.apply(frame(spark, rows), batch_id, "w")

    exact = spark.read.format("delta").load(delta.path)
    assert sorted(map(tuple, guarded.table(spark).collect())) == [
        (2, "b2", 2),
        (3, "back", 3),
        (5, "e2", 3),
    ]
    assert wrong_keys(exact, guarded.table(spark), ["id"]) == 0
    # The batches tell a guarded MERGE from the naive one: late changes win there.
    assert wrong_keys(exact, naive.table(spark), ["id"]) > 0


def test_guarded_merge_keeps_tombstones_without_their_values(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = tmp_path / "guarded"
    guarded = GuardedDeltaMerge(spark, str(path), keys=["id"], partition_by=["day"])
    for batch_id, rows in enumerate(BATCHES[:2]):
        guarded.apply(frame(spark, rows), batch_id, "w")
    stored = spark.read.format("delta").load(str(path)).where("_deleted")
    assert sorted(map(tuple, stored.select("id", "name", "day").collect())) == [
        (1, None, 1),  # stays in the partition its row was deleted from
        (4, None, 2),
    ]

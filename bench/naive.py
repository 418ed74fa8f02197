"""The naive baseline of the engine benchmarks: what a user writes in a foreachBatch.

Keep the last change per key of the batch (`row_number` over `_seq`, `_pos`), then one
Delta MERGE: delete on `D`, update or insert the rest. No sequence guard against the
table, no tombstones: a late change overwrites a newer row, and a late update of a key
deleted earlier brings it back. The benchmark counts the keys it gets wrong against the
engine that follows the contract (docs/design.md, sink semantics).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from operator import or_

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from sinks.base import BatchResult
from transforms.names import BOOKKEEPING, OP, POS, SEQ

__all__ = ["NaiveDeltaMerge", "wrong_keys"]


class NaiveDeltaMerge:
    """A foreachBatch MERGE into the Delta table at `path`, partitioned by `partition_by`."""

    def __init__(
        self, spark: SparkSession, path: str, *, keys: Sequence[str], partition_by: Sequence[str]
    ) -> None:
        self.path = path
        self._keys = list(keys)
        self._parts = list(partition_by)

    def apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        spark = changes.sparkSession
        latest = Window.partitionBy(*self._keys).orderBy(F.col(SEQ).desc(), F.col(POS).desc())
        last = changes.withColumn("__n", F.row_number().over(latest)).where("__n = 1").drop("__n")
        columns = [c for c in changes.columns if c not in BOOKKEEPING]
        if not DeltaTable.isDeltaTable(spark, self.path):
            rows = last.where(F.col(OP) != "D").select(*columns)
            rows.write.format("delta").partitionBy(*self._parts).save(self.path)
            return BatchResult(batch_id=batch_id)
        on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in self._keys)
        values: dict[str, str | Column] = {f"`{c}`": F.col(f"s.`{c}`") for c in columns}
        (
            DeltaTable.forPath(spark, self.path)
            .alias("t")
            .merge(last.alias("s"), on)
            .whenMatchedDelete(condition=F.col(f"s.{OP}") == "D")
            .whenMatchedUpdate(set=values)
            .whenNotMatchedInsert(condition=F.col(f"s.{OP}") != "D", values=values)
            .execute()
        )
        return BatchResult(batch_id=batch_id)

    def table(self, spark: SparkSession) -> DataFrame:
        return spark.read.format("delta").load(self.path)


def wrong_keys(expected: DataFrame, actual: DataFrame, keys: Sequence[str]) -> int:
    """Keys whose row differs between two tables of the same columns: missing on one side
    (its columns all NULL after the full outer join), or another value in any column."""
    columns = [c for c in expected.columns if c not in keys]
    joined = expected.alias("e").join(actual.alias("a"), list(keys), "full_outer")
    differs = [~F.col(f"e.`{c}`").eqNullSafe(F.col(f"a.`{c}`")) for c in columns]
    return int(joined.where(reduce(or_, differs)).count())

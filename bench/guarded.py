"""The second baseline of the engine benchmarks: the least a Delta MERGE that obeys the sink
rules costs, to set beside the naive one (bench/naive.py) and the Delta engine.

One MERGE a batch, as the naive MERGE, after the same last change per key
(transforms/ordering.py), but with the sequence guard and the tombstones in the MERGE
itself: the table carries `_seq`, `_pos` and `_deleted` beside the business columns, a
change updates a row only when it is newer than what the row holds, and a delete turns
the row into a tombstone (its other columns NULL) instead of removing it, so that a late
change cannot bring the key back. A batch is one commit, made idempotent by Delta's
`txnAppId`/`txnVersion`.

What it leaves out, which is why it is a floor and not an engine: readers of the table's
path see the tombstone rows and the bookkeeping columns (they must filter `NOT _deleted`
and drop them, or read a view; the Delta engine keeps its published table clean, with
its state in a second table and a second commit); tombstones never expire; its counts
(accepted, stale) are not computed; no partition scope is given to the MERGE (as the naive
one, it relies on Delta's statistics of the key). Its final table, filtered, must equal
the Delta engine's: the benchmark counts the keys on which it does not.
"""

from __future__ import annotations

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from bench.naive import NaiveDeltaMerge
from sinks.base import BatchResult
from sinks.delta.log import idempotent
from sinks.settings import session_settings
from transforms.names import BOOKKEEPING, DELETED, OP, POS, SEQ
from transforms.ordering import latest_per_key, newer_than

__all__ = ["GuardedDeltaMerge"]


class GuardedDeltaMerge(NaiveDeltaMerge):
    """One guarded MERGE a batch into the Delta table at `path`, partitioned by
    `partition_by`, its tombstones and sequence values in the table itself: the naive
    MERGE's table and batch, another MERGE."""

    def apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        spark = changes.sparkSession
        last = changes.transform(latest_per_key(self._keys))
        columns = [c for c in changes.columns if c not in BOOKKEEPING]
        with session_settings(spark, idempotent(writer_id, batch_id)):
            if not DeltaTable.isDeltaTable(spark, self.path):
                rows = last.select(
                    *[value.alias(c) for c, value in self._stored(columns).items()],
                    F.col(SEQ),
                    F.col(POS),
                    (F.col(OP) == "D").alias(DELETED),
                )
                rows.write.format("delta").partitionBy(*self._parts).save(self.path)
                return BatchResult(batch_id=batch_id)
            self._merge(spark, last, columns)
        return BatchResult(batch_id=batch_id)

    def _merge(self, spark: SparkSession, last: DataFrame, columns: list[str]) -> None:
        on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in self._keys)
        newer = newer_than(
            F.col(f"s.{SEQ}"), F.col(f"s.{POS}"), F.col(f"t.{SEQ}"), F.col(f"t.{POS}")
        )
        deleted = F.col(f"s.{OP}") == "D"
        state: dict[str, str | Column] = {
            SEQ: F.col(f"s.{SEQ}"),
            POS: F.col(f"s.{POS}"),
            DELETED: deleted,
        }
        kept = {*self._keys, *self._parts}
        values: dict[str, str | Column] = {f"`{c}`": F.col(f"s.`{c}`") for c in columns}
        # A matched tombstone stays in the partition its row was in; one of a key never
        # seen goes where its delete says.
        emptied: dict[str, str | Column] = {f"`{c}`": F.lit(None) for c in columns if c not in kept}
        inserted: dict[str, str | Column] = {
            f"`{c}`": value for c, value in self._stored(columns, "s.").items()
        }
        (
            DeltaTable.forPath(spark, self.path)
            .alias("t")
            .merge(last.alias("s"), on)
            .whenMatchedUpdate(condition=newer & deleted, set={**emptied, **state})
            .whenMatchedUpdate(condition=newer, set={**values, **state})
            .whenNotMatchedInsert(values={**inserted, **state})
            .execute()
        )

    def _stored(self, columns: list[str], prefix: str = "") -> dict[str, Column]:
        """Each business column of a change (aliased `prefix`) as the table stores it: a
        tombstone keeps its key and partition, nothing else."""
        deleted = F.col(f"{prefix}{OP}") == "D"
        kept = {*self._keys, *self._parts}
        return {
            c: F.col(f"{prefix}`{c}`") if c in kept else F.when(~deleted, F.col(f"{prefix}`{c}`"))
            for c in columns
        }

    def table(self, spark: SparkSession) -> DataFrame:
        """What a reader that knows the layout sees: the live rows, business columns."""
        table = spark.read.format("delta").load(self.path)
        business = [c for c in table.columns if c not in (SEQ, POS, DELETED)]
        return table.where(~F.col(DELETED)).select(*[F.col(f"`{c}`") for c in business])

"""Apply micro-batches to a Delta Lake table with MERGE.

Layout of one table:

    <table>/                  the published Delta table: live rows, business columns only
    <table>/_cdc/keys/        a Delta table partitioned like it: keys, _seq, _pos, _deleted
                              (tombstones), _deleted_at (their age), each key in the
                              partition its row is (or was) in

Where the state lives. The sink rules (docs/design.md) let tombstones be a soft-delete
flag or a side table, but readers must never see deleted rows or bookkeeping:
`spark.read.format("delta")` of the table shows every column and row it holds, so the
state is a side table. It
sits inside the table's folder under a `_` name, which Delta readers, writers and
VACUUM of the published table ignore.

One batch opens like every Delta batch (table.py): read the key table at its current
version (pinned) for the batch's key range and, partitioned, only the partitions whose
files may hold one of the batch's keys (sinks/file_ranges.py); keep the last change per
key that is newer than what is held (sinks/decide.py, shared with the lake and Iceberg), then
1. MERGE the accepted changes into the published table: one commit, so readers see
   the batch whole;
2. MERGE them into the key table: one commit.

Retention: the guard ignores tombstones older than `target.retention.tombstones`
(sinks/decide.py), and the key table's MERGE deletes the expired tombstones within the
batch's key range and partitions: in that same commit, so a crash never half-applies it,
and within files the MERGE reads anyway (elsewhere they wait for a batch that reaches
them: storage, never correctness).

Into tables the engine has just created (nothing held, nothing to guard against: a
first run's full load), the two MERGEs are two appends of the same rows, under the same
`txnAppId`/`txnVersion`: a plain write's cost instead of a MERGE's joins.

Both targets are restricted to the partitions the touched keys are in and go to, and
to the batch's key range, so Delta skips every other file of either table.
Both MERGEs run with Delta's `txnAppId` = writer id and `txnVersion` = batch id (see
log.py), so each commit carries (writer, batch) atomically. The key table's entry is
the batch's last commit: a writer whose batch id is not above it replays nothing.

Crash between the two commits: Spark re-runs the batch; the key table still has the
version read before, so the same changes are accepted; Delta skips the published
table's MERGE (its (writer, batch) is committed) and the key table's MERGE runs.
Delta has no commit spanning two tables; this order, with the pinned read, is what
makes the pair roll forward. One writer per table at a time, as for the lake.

Schema evolution is explicit: a column a batch brings is added to both tables before
the MERGEs, in a commit of its own (log.add_missing_columns). `schema.autoMerge` would
do it inside the MERGE, but only with updateAll/insertAll, which would also add the
source's `_op` to the published table.

On S3, Delta picks its S3SingleDriverLogStore for s3/s3a paths: commits are safe from one
driver at a time (one writer per table, as above); concurrent writers from several
clusters need Delta's DynamoDB log store. With a catalog, the table is registered as a
native Delta table when the engine first writes it and when its columns grow.
"""

from __future__ import annotations

import time

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from sinks.crash import crash_point
from sinks.decide import expired, key_rows, key_schema
from sinks.delta.key_files import file_ranges
from sinks.delta.log import file_count
from sinks.delta.merge import append, merge_changes, merge_keys
from sinks.delta.table import DeltaTables
from sinks.file_ranges import StatisticsPruned
from sinks.merge_scope import in_partitions, same_keys, target, within
from sinks.settings import session_settings
from sinks.table_pair import Accepted
from transforms.names import OP

# Both MERGEs read their source (the accepted changes) from the batch's persisted decision,
# which is deterministic: a partition recomputed after its cache blocks were lost comes
# from the same micro-batch and the same pinned key-table version. Delta's own copy of a
# source that is not a Delta table (`materializeSource=auto`) would cost a Spark job per
# MERGE and a second copy of the batch.
_SOURCE_AS_IS = {"spark.databricks.delta.merge.materializeSource": "none"}


class DeltaEngine(StatisticsPruned, DeltaTables):
    """One Delta table; create one per table and reuse it for every batch."""

    state_name = "keys"

    def _commit(self, accepted: Accepted, timings: dict[str, float]) -> int:
        """The two MERGEs of a batch, within the partitions its accepted changes touch, or
        two appends into empty tables; how many partitions that is."""
        changes, partitions, payload = accepted.rows, accepted.partitions, accepted.payload
        bounds, at, empty = accepted.bounds, accepted.at, accepted.empty
        spark = changes.sparkSession
        scope = within(target(self._keys[0]), *bounds)
        touched = 1
        if self._parts:
            types = StructType([changes.schema[p] for p in self._parts])
            scope = scope & in_partitions(types, list(partitions))
            touched = len(partitions)
        settings = {**self._write_settings(*accepted.batch), **_SOURCE_AS_IS}
        with session_settings(spark, settings):
            mark = time.monotonic()
            rows = changes.select(*[F.col(f"`{c}`") for c in payload], OP)
            if empty:
                append(self.path, rows.where(F.col(OP) != "D").drop(OP))
            else:
                merge_changes(
                    DeltaTable.forPath(spark, self.path),
                    rows,
                    payload,
                    same_keys(self._keys) & scope,
                )
            timings["merge_s"] = time.monotonic() - mark
            crash_point("delta.after_data_commit")
            mark = time.monotonic()
            keys = changes.transform(key_rows(self._keys, self._parts, at[0]))
            if empty:
                append(self.state_path, keys)
            else:
                merge_keys(
                    DeltaTable.forPath(spark, self.state_path),
                    keys,
                    same_keys(self._keys) & scope,
                    scope=scope,
                    expired=expired(at[1], "t."),
                    delete_expired=self._may_hold_expired(changes, partitions, bounds, at[1]),
                )
            timings["keys_s"] = time.monotonic() - mark
        crash_point("delta.after_commit")
        return touched

    def _state_files(self, spark: SparkSession) -> int:
        return file_count(spark, self.state_path)

    def _state_ranges(self, spark: SparkSession, key: StructField, parts: StructType) -> DataFrame:
        return file_ranges(spark, self.state_path, key, parts)

    def _schemas(self, changes: DataFrame, payload: list[str]) -> tuple[StructType, StructType]:
        published = StructType([changes.schema[c] for c in payload])
        return published, key_schema(changes.schema, self._keys, self._parts)

    def _state_partitions(self) -> list[str]:
        return self._parts

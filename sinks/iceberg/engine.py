"""Apply micro-batches to an Apache Iceberg table with MERGE.

Layout, in one namespace of an Iceberg catalog (catalog.py; a Hadoop catalog locally):

    <namespace>.<table>              the published table: live rows, business columns only
    <namespace>.<table>__cdc_keys    the key table, partitioned like it: keys, _seq, _pos,
                                     _deleted (tombstones), _deleted_at, each key in the
                                     partition its row is (or was) in

Where the tombstones live. Iceberg has no place inside a table that its readers skip
(every file a reader sees is named by the table's metadata), so the sequence guard and
the tombstones are a companion Iceberg table, named like the warehouse's key table. Any
Iceberg reader (Spark, PyIceberg, Athena, Trino) of `<table>` sees the live rows only.

One batch, as in the Delta engine (sinks/delta/engine.py), with the one decision core
sinks/decide.py: open it like every Iceberg batch (tables.py: the key table read at its
current snapshot, pinned by id, for the batch's key range); keep the last change per key
that is newer than what is held; then
1. MERGE the accepted changes into the published table: one snapshot, so readers see the
   batch whole;
2. MERGE them into the key table: one snapshot, the batch's last commit.
Both MERGE conditions name the batch's key range and the partitions the touched keys are
in and go to, so Iceberg plans only the files that may hold them. With Iceberg partition
transforms instead of `partition_by` (days(ts), bucket(16, id)), the decision has no
partition column: the conditions name the key range alone, Iceberg prunes by its
partition values and column bounds, and the key table is partitioned by the transforms
of key columns only (it holds no other column). Into tables the engine has just created
(nothing held: a first run's full load), each MERGE is an INSERT of the same rows.

Idempotency. Both snapshots carry `cdc.writer` (the checkpoint's query id) and
`cdc.batch` in their summary (catalog.py). At its first batch the engine reads, from the
key table's snapshot ancestry, the writer's last batch: a batch id not above it was
applied whole and is skipped, writing no snapshot. A crash between the two commits:
Spark re-runs the batch; the key table is unchanged, so the same changes are accepted;
the published table's ancestry already names (writer, batch), so its MERGE is skipped
and the key table's runs. After its first batch the engine remembers what it committed
(and the table's row count, kept by the accepted changes' net effect); a failed batch
makes it forget both. One writer per table at a time, as for Delta.

Write mode: merge-on-read by default (position-delete files: a batch writes only its new
rows and small delete files, whatever the size of the files its keys are in); or
copy-on-write per table (target.write_modes). The key table is copy-on-write by default
(target.state_write_mode): every batch reads it, and delete files would make that read
grow batch after batch. docs/engines.md has the numbers and the maintenance recipe.
"""

from __future__ import annotations

import uuid
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from sinks.decide import key_rows, key_schema
from sinks.file_ranges import StatisticsPruned
from sinks.iceberg.catalog import partition_fields
from sinks.iceberg.key_files import data_files, file_ranges
from sinks.iceberg.merge import insert_sql, merge_changes_sql, merge_keys_sql, stored
from sinks.iceberg.tables import IcebergTables
from sinks.merge_scope import in_partitions_pushed, same_keys, target, within
from sinks.table_pair import Accepted
from transforms.names import OP

__all__ = ["IcebergEngine"]


class IcebergEngine(StatisticsPruned, IcebergTables):
    """One Iceberg table and its key table; create one per table and reuse it."""

    state_name = "keys"
    crash_prefix = "iceberg"
    pushed_partitions = True  # a struct IN never reaches Iceberg's file skipping

    @property
    def key_table(self) -> str:
        return self.state_table

    def _commit(self, accepted: Accepted, timings: dict[str, float]) -> int:
        """The two MERGEs of a batch, within the partitions its accepted changes touch, or
        two inserts into empty tables; how many partitions that is."""
        changes, partitions, payload = accepted.rows, accepted.partitions, accepted.payload
        bounds, at = accepted.bounds, accepted.at
        spark = changes.sparkSession
        scope, touched = self._scope(changes, partitions, bounds)
        on = same_keys(self._keys) & scope
        views = [f"cdc_iceberg_{uuid.uuid4().hex}" for _ in range(2)]
        changes.select(*[F.col(f"`{c}`") for c in payload], OP).createOrReplaceTempView(views[0])
        keys = changes.transform(key_rows(self._keys, self._parts, at[0])).transform(stored)
        keys.createOrReplaceTempView(views[1])
        data, key_table = self._catalog.table(self.table), self._catalog.table(self.key_table)
        if accepted.empty:
            statements = (
                insert_sql(data, views[0], payload, where=f"{OP} != 'D'"),
                insert_sql(key_table, views[1], keys.columns),
            )
        else:
            statements = (
                merge_changes_sql(data, views[0], payload, on),
                merge_keys_sql(
                    key_table,
                    views[1],
                    on,
                    scope=scope,
                    expired_before=at[1],
                    delete_expired=self._may_hold_expired(changes, partitions, bounds, at[1]),
                ),
            )
        self._commit_pair(spark, accepted.batch, statements, views, timings)
        return touched

    def _scope(
        self,
        accepted: DataFrame,
        partitions: tuple[tuple[Any, ...], ...],
        bounds: tuple[Any, Any],
    ) -> tuple[Column, int]:
        """Target rows the batch may touch: its key range, and its `partitions` (where the
        keys are and go to); how many partitions that is."""
        scope = within(target(self._keys[0]), *bounds)
        if not self._parts:
            return scope, 1
        types = StructType([accepted.schema[p] for p in self._parts])
        return scope & in_partitions_pushed(types, list(partitions)), len(partitions)

    def _state_files(self, spark: SparkSession) -> int:
        return data_files(self._load(spark, self.key_table))

    def _state_ranges(self, spark: SparkSession, key: StructField, parts: StructType) -> DataFrame:
        return file_ranges(spark, self._catalog.table(self.key_table), key, parts)

    def _schemas(self, changes: DataFrame, payload: list[str]) -> tuple[StructType, StructType]:
        published = StructType([changes.schema[c] for c in payload])
        return published, key_schema(changes.schema, self._keys, self._parts)

    def _state_partitions(self) -> list[str]:
        return partition_fields(self._parts, self._transforms, only=self._keys)

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
sinks/decide.py: read the key table at its current snapshot (pinned by id) for the
batch's key range; keep the last change per key that is newer than what is held; then
1. MERGE the accepted changes into the published table: one snapshot, so readers see the
   batch whole;
2. MERGE them into the key table: one snapshot, the batch's last commit.
Both MERGE conditions name the batch's key range and the partitions the touched keys are
in and go to, so Iceberg plans only the files that may hold them. With Iceberg partition
transforms instead of `partition_by` (days(ts), bucket(16, id)), the decision has no
partition column: the conditions name the key range alone, Iceberg prunes by its
partition values and column bounds, and the key table is partitioned by the transforms
of key columns only (it holds no other column).

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
copy-on-write per table (target.write_modes). docs/engines.md has the numbers and the
maintenance recipe.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from sinks.base import BatchResult
from sinks.crash import crash_point
from sinks.decide import (
    Decision,
    count,
    decide,
    held,
    key_rows,
    key_schema,
    partitions_touched,
)
from sinks.iceberg.catalog import (
    IcebergCatalog,
    last_batch,
    partition_fields,
    with_commit_properties,
)
from sinks.iceberg.conf import CatalogSettings
from sinks.iceberg.merge import STORED, canonical, merge_changes_sql, merge_keys_sql, stored
from sinks.memory import Committed
from sinks.merge_scope import in_partitions, same_keys, target, within
from sinks.retention import Expiry
from transforms.names import ACCEPTED, BOOKKEEPING, OP

__all__ = ["IcebergEngine"]


class IcebergEngine:
    """One Iceberg table and its key table; create one per table and reuse it."""

    def __init__(
        self,
        spark: SparkSession,
        warehouse: str,
        *,
        table: str,
        keys: Sequence[str],
        partition_by: Sequence[str] = (),
        transforms: Sequence[str] = (),
        namespace: str = "cdc",
        spark_catalog: str = "iceberg",
        write_mode: str = "merge-on-read",
        expiry: Expiry | None = None,
        catalog: CatalogSettings | None = None,
    ) -> None:
        self._catalog = IcebergCatalog(spark_catalog, namespace, catalog or CatalogSettings())
        self._warehouse = warehouse.rstrip("/")
        self.location = (
            f"{self._warehouse}/{namespace}/{table}"
            if self._warehouse
            else f"{spark_catalog}.{namespace}.{table}"  # a REST catalog places its tables
        )
        self.table = table
        self.key_table = f"{table}__cdc_keys"
        self._keys = list(keys)
        self._parts = list(partition_by)  # identity partitions: decide.py scopes by them
        self._transforms = list(transforms)  # or Iceberg's: pruned by Iceberg alone
        self._mode = write_mode
        self._expiry = expiry or Expiry()
        self._columns: set[str] = set()  # payload columns (name:type) both tables are known to have
        self._memory = Committed()  # what this engine committed (sinks/memory.py)

    def recover(self) -> None:
        """Nothing to do: a snapshot is atomic (files of one never committed are orphans,
        invisible, removed by remove_orphan_files), and a batch that died between its two
        commits is finished by Spark's re-run of it."""

    def apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        """Apply one micro-batch; a batch that fails makes the engine forget what it kept."""
        try:
            return self._apply(changes, batch_id, writer_id)
        except BaseException:
            self._memory.forget()
            raise

    def _apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        started = time.monotonic()
        spark = changes.sparkSession
        payload = [c for c in changes.columns if c not in BOOKKEEPING]
        self._ensure_tables(changes, payload)
        last = self._memory.last_batch(
            writer_id, lambda: last_batch(self._load(spark, self.key_table), writer_id)
        )
        if last >= batch_id:
            return BatchResult(batch_id=batch_id, skipped=True, rows_in_table=self._counted(spark))
        first = F.col(f"`{self._keys[0]}`")
        low, high = changes.agg(F.min(first), F.max(first)).first() or (None, None)
        if low is None:  # no change, or no key
            return BatchResult(batch_id=batch_id, rows_in_table=self._counted(spark))
        now = self._expiry.now()
        before = self._expiry.tombstones_before(now)
        held_rows = self._state(spark).where(within(first, low, high))
        decided = changes.transform(
            decide(self._keys, held_rows.transform(held(self._keys, self._parts)), before)
        )
        decided = decided.persist()
        timings: dict[str, float] = {}
        try:
            decision = count(decided)
            timings["decide_s"] = time.monotonic() - started
            touched = 0
            if decision.accepted:
                touched = self._commit(
                    decided.where(F.col(ACCEPTED)),
                    payload,
                    bounds=(low, high),
                    batch=(writer_id, batch_id),
                    timings=timings,
                    at=(now, before),
                )
        finally:
            decided.unpersist()
        timings["total_s"] = time.monotonic() - started
        return self._result(
            spark,
            decision,
            writer_id=writer_id,
            batch_id=batch_id,
            touched=touched,
            timings=timings,
        )

    def _result(
        self,
        spark: SparkSession,
        decision: Decision,
        *,
        writer_id: str,
        batch_id: int,
        touched: int,
        timings: dict[str, float],
    ) -> BatchResult:
        """Remember a batch applied whole, and say what it did."""
        rows = self._memory.applied(
            writer_id, batch_id, decision.net_rows, lambda: self._count(spark)
        )
        return decision.result(batch_id, partitions=touched, rows=rows, timings=timings)

    def _commit(
        self,
        accepted: DataFrame,
        payload: list[str],
        *,
        bounds: tuple[Any, Any],
        batch: tuple[str, int],
        timings: dict[str, float],
        at: tuple[datetime, datetime | None],
    ) -> int:
        """The two MERGEs of a batch; how many partitions they touch. Tombstones are
        stamped `at[0]`; those written before `at[1]` have expired."""
        spark = accepted.sparkSession
        writer_id, batch_id = batch
        scope, touched = self._scope(accepted, bounds)
        on = same_keys(self._keys) & scope
        views = [f"cdc_iceberg_{uuid.uuid4().hex}" for _ in range(2)]
        accepted.select(*[F.col(f"`{c}`") for c in payload], OP).createOrReplaceTempView(views[0])
        accepted.transform(key_rows(self._keys, self._parts, at[0])).transform(
            stored
        ).createOrReplaceTempView(views[1])
        data_sql = merge_changes_sql(self._catalog.table(self.table), views[0], payload, on)
        keys_sql = merge_keys_sql(
            self._catalog.table(self.key_table), views[1], on, scope=scope, expired_before=at[1]
        )
        try:
            mark = time.monotonic()
            # Skipped when a run that died after it committed it (see the module docstring).
            if (
                self._memory.knows(writer_id)
                or last_batch(self._load(spark, self.table), writer_id) < batch_id
            ):
                with_commit_properties(spark, writer_id, batch_id, lambda: _run(spark, data_sql))
            timings["merge_s"] = time.monotonic() - mark
            crash_point("iceberg.after_data_commit")
            mark = time.monotonic()
            with_commit_properties(spark, writer_id, batch_id, lambda: _run(spark, keys_sql))
            timings["keys_s"] = time.monotonic() - mark
        finally:
            for view in views:
                spark.catalog.dropTempView(view)
        crash_point("iceberg.after_commit")
        return touched

    def _scope(self, accepted: DataFrame, bounds: tuple[Any, Any]) -> tuple[Column, int]:
        """Target rows the batch may touch: its key range, and its partitions (where the
        keys are and go to); how many partitions that is."""
        scope = within(target(self._keys[0]), *bounds)
        if not self._parts:
            return scope, 1
        partitions = accepted.transform(partitions_touched(self._keys, self._parts)).collect()
        types = StructType([accepted.schema[p] for p in self._parts])
        return scope & in_partitions(types, [tuple(r) for r in partitions]), len(partitions)

    def _state(self, spark: SparkSession) -> DataFrame:
        """The key table at its current snapshot, pinned: a later commit never changes it."""
        table = self._load(spark, self.key_table)
        snapshot = table.currentSnapshot()
        reader = spark.read
        if snapshot is not None:
            reader = reader.option("snapshot-id", str(snapshot.snapshotId()))
        return reader.table(self._catalog.table(self.key_table)).transform(canonical)

    def _load(self, spark: SparkSession, name: str) -> Any:
        table = self._catalog.load(spark, name)
        assert table is not None, "the engine creates its tables first"
        return table

    def _ensure_tables(self, changes: DataFrame, payload: list[str]) -> None:
        """Create both tables, or add to both the columns a batch brings (a commit of its own,
        before the MERGEs)."""
        wanted = {f"{c.lower()}:{changes.schema[c].dataType.simpleString()}" for c in payload}
        if wanted <= self._columns:
            return
        spark = changes.sparkSession
        if not self._columns:
            self._catalog.register(spark, self._warehouse)
        published = StructType([changes.schema[c] for c in payload])
        keys = StructType(
            [
                StructField(STORED.get(f.name, f.name), f.dataType, f.nullable)
                for f in key_schema(changes.schema, self._keys, self._parts).fields
            ]
        )
        parts = partition_fields(self._parts, self._transforms)
        key_parts = partition_fields(self._parts, self._transforms, only=self._keys)
        for name, schema, fields in (
            (self.table, published, parts),
            (self.key_table, keys, key_parts),
        ):
            if self._catalog.load(spark, name) is None:
                self._catalog.create(spark, name, schema, fields, self._mode)
            else:
                self._catalog.evolve(spark, name, schema)
        self._columns |= wanted

    def _counted(self, spark: SparkSession) -> int:
        return self._memory.rows(lambda: self._count(spark))

    def _count(self, spark: SparkSession) -> int:
        return int(spark.table(self._catalog.table(self.table)).count())


def _run(spark: SparkSession, statement: str) -> None:
    spark.sql(statement)

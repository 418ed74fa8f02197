"""What both Iceberg engines share: a published table, a companion state table, the
opening steps of a batch and the order of its two commits.

    <namespace>.<table>                 what users read: the latest state (engine.py) or
                                        the history of SCD type 2 (history.py)
    <namespace>.<table>__cdc_<state>    what the engine needs to judge a change: per-key
                                        tombstones (`keys`) or every event applied
                                        (`events`); readers of <table> never see it

A batch opens the same way for both, as for Delta (the sequence is sinks/table_pair.py's):
1. create both tables, or add to both the columns the batch brings (a commit of its own,
   before the MERGEs). Iceberg reserves `_pos` and `_deleted` for metadata columns, so
   every table stores them as `_cdc_pos`/`_cdc_deleted` (merge.py), and the engine reads
   them back under the canonical names;
2. read the writer's last batch from the state table's snapshot ancestry: its MERGE is a
   batch's last commit, so a batch id not above it was applied whole and is skipped,
   writing no snapshot;
3. read the state table at its current snapshot, pinned by id, for the batch's key range:
   one writer per table, so it is the snapshot the batch started from, in the batch and
   in its re-run after a crash between its two commits. Every batch reads it and nobody
   else does, so it is copy-on-write by default whatever the published table's mode:
   merge-on-read would add a delete file per touched partition each batch, which every
   later read applies (docs/engines.md, *The key table's write mode*).

Then the engine derives what to write and makes its two commits (`_commit_pair`): the
published table's MERGE, skipped when its ancestry already names (writer, batch) (a run
that died after it), then the state table's; each snapshot carries (writer, batch) in its
summary (catalog.py). Crash points `<prefix>.after_data_commit` and `<prefix>.after_commit`
sit after each. What one engine committed it remembers (sinks/memory.py); a batch that
fails makes it forget.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructField, StructType

from sinks.crash import crash_point
from sinks.iceberg.catalog import (
    IcebergCatalog,
    last_batch,
    partition_fields,
    table_properties,
    with_commit_properties,
    write_mode_properties,
)
from sinks.iceberg.conf import CatalogSettings
from sinks.iceberg.merge import STORED, canonical
from sinks.memory import Committed
from sinks.retention import Expiry
from sinks.settings import session_settings
from sinks.table_pair import TablePair

__all__ = ["IcebergTables"]

# Spark's runtime filter of the files a copy-on-write MERGE rewrites (true by default)
_GROUP_FILTER = "spark.sql.optimizer.runtime.rowLevelOperationGroupFilter.enabled"


class IcebergTables(TablePair):
    """The published table `<table>` and its state table `<table>__cdc_<state_name>`."""

    state_name: ClassVar[str]
    crash_prefix: ClassVar[str]  # crash points `<prefix>.after_data_commit`, `.after_commit`

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
        state_write_mode: str = "copy-on-write",
        expiry: Expiry | None = None,
        catalog: CatalogSettings | None = None,
        target_file_size: int | None = None,
    ) -> None:
        self._catalog = IcebergCatalog(spark_catalog, namespace, catalog or CatalogSettings())
        self._warehouse = warehouse.rstrip("/")
        self.location = (
            f"{self._warehouse}/{namespace}/{table}"
            if self._warehouse
            else f"{spark_catalog}.{namespace}.{table}"  # a REST catalog places its tables
        )
        self.table = table
        self.state_table = f"{table}__cdc_{self.state_name}"
        self._keys = list(keys)
        self._parts = list(partition_by)  # identity partitions: decide.py scopes by them
        self._transforms = list(transforms)  # or Iceberg's: pruned by Iceberg alone
        self._mode = write_mode
        self._state_mode = state_write_mode  # the engine reads its state table every batch
        self._properties = table_properties(target_file_size)  # bytes; None: Iceberg's default
        self._expiry = expiry or Expiry()
        self._columns: set[str] = set()  # payload columns (name:type) both tables are known to have
        self._memory = Committed()  # what this engine committed (sinks/memory.py)

    @property
    def catalog(self) -> IcebergCatalog:
        """The catalog and namespace the engine's tables are in."""
        return self._catalog

    def recover(self) -> None:
        """Nothing to do: a snapshot is atomic (files of one never committed are orphans,
        invisible, removed by remove_orphan_files), and a batch that died between its two
        commits is finished by Spark's re-run of it."""

    @abstractmethod
    def _schemas(self, changes: DataFrame, payload: list[str]) -> tuple[StructType, StructType]:
        """The columns the published table and the state table must have for this batch,
        under the canonical names (`_pos`, `_deleted`)."""

    @abstractmethod
    def _state_partitions(self) -> list[str]:
        """How the state table is partitioned, as SQL partition fields."""

    def _last_committed(self, spark: SparkSession, writer_id: str) -> int:
        return last_batch(self._load(spark, self.state_table), writer_id)

    def _commit_pair(
        self,
        spark: SparkSession,
        batch: tuple[str, int],
        statements: tuple[str, str],
        views: Sequence[str],
        timings: dict[str, float],
    ) -> None:
        """MERGE the published table, then the state table, each snapshot carrying
        (writer, batch); the first is skipped when a run that died after it committed it.
        The temporary `views` the statements read are dropped, crash or not."""
        writer_id, batch_id = batch
        try:
            mark = time.monotonic()
            if (
                self._memory.knows(writer_id)
                or last_batch(self._load(spark, self.table), writer_id) < batch_id
            ):
                with_commit_properties(
                    spark, writer_id, batch_id, lambda: _run(spark, statements[0])
                )
            timings["merge_s"] = time.monotonic() - mark
            crash_point(f"{self.crash_prefix}.after_data_commit")
            mark = time.monotonic()
            with session_settings(spark, self._state_settings()):
                with_commit_properties(
                    spark, writer_id, batch_id, lambda: _run(spark, statements[1])
                )
            timings["keys_s"] = time.monotonic() - mark
        finally:
            for view in views:
                spark.catalog.dropTempView(view)
        crash_point(f"{self.crash_prefix}.after_commit")

    def _state_settings(self) -> dict[str, str]:
        """Settings of the state table's MERGE. Copy-on-write, Spark first finds which of
        the files the MERGE's condition keeps hold a matching key (a runtime filter: two
        Spark jobs), to rewrite only those. The condition already names the partitions the
        batch's keys are in and its key range, where the state table keeps about one file a
        partition: the filter saves next to nothing, and its two jobs made a batch 9 Spark jobs
        instead of 7 (docs/engines.md, *The key table's write mode*)."""
        if self._state_mode != "copy-on-write":
            return {}
        return {_GROUP_FILTER: "false"}

    def _state_rows(self, spark: SparkSession) -> DataFrame:
        """The state table at its current snapshot, pinned: a later commit never changes it."""
        table = self._load(spark, self.state_table)
        snapshot = table.currentSnapshot()
        reader = spark.read
        if snapshot is not None:
            reader = reader.option("snapshot-id", str(snapshot.snapshotId()))
        return reader.table(self._catalog.table(self.state_table)).transform(canonical)

    def _load(self, spark: SparkSession, name: str) -> Any:
        table = self._catalog.load(spark, name)
        assert table is not None, "the engine creates its tables first"
        return table

    def _ensure_tables(self, changes: DataFrame, payload: list[str]) -> None:
        """Create both tables, or add to both the columns a batch brings (a commit of its own,
        before the MERGEs). The engine's table properties (the target file size, and the
        state table's write mode) are set at creation, and on a table that holds others
        when the engine first opens it: a state table made merge-on-read by an older
        version becomes copy-on-write, its delete files folded in as batches rewrite them."""
        wanted = {f"{c.lower()}:{changes.schema[c].dataType.simpleString()}" for c in payload}
        if wanted <= self._columns:
            return
        spark = changes.sparkSession
        if not self._columns:
            self._catalog.register(spark, self._warehouse)
        published, state = (_stored(s) for s in self._schemas(changes, payload))
        parts = partition_fields(self._parts, self._transforms)
        created = 0
        state_properties = {**self._properties, **write_mode_properties(self._state_mode)}
        for name, schema, fields, mode, kept in (
            (self.table, published, parts, self._mode, self._properties),
            (self.state_table, state, self._state_partitions(), self._state_mode, state_properties),
        ):
            table = self._catalog.load(spark, name)
            if table is None:
                self._catalog.create(spark, name, schema, fields, mode, properties=kept)
                created += 1
                continue
            if not self._columns:  # the engine's first look at an existing table
                self._catalog.align(spark, name, table, kept)
            self._catalog.evolve(spark, name, schema)
        if created == 2:
            self._memory.created()
        self._columns |= wanted

    def _count(self, spark: SparkSession) -> int:
        return int(spark.table(self._catalog.table(self.table)).count())


def _stored(schema: StructType) -> StructType:
    """A schema with Iceberg's reserved names replaced by the stored ones (merge.py)."""
    return StructType(
        [StructField(STORED.get(f.name, f.name), f.dataType, f.nullable) for f in schema.fields]
    )


def _run(spark: SparkSession, statement: str) -> None:
    spark.sql(statement)

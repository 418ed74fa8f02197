"""Rows and tombstones a target holds now, from each engine's own bookkeeping.

The lake's manifest counts both per partition (no data read); a Delta table's count comes
from its log's statistics, its tombstones from the key table (`_cdc/keys`, `_deleted`); an
Iceberg table's by counting it, its tombstones from its key table (`<table>__cdc_keys`); a
warehouse answers two counts (the table, and `<table>__cdc_keys` where `_deleted`). SCD
type 2 keeps history events, not tombstones: None. A table not written yet: None.
"""

from __future__ import annotations

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from config import IcebergTarget, JobConfig, LakeTarget, RedshiftTarget
from sinks.iceberg.catalog import IcebergCatalog
from sinks.iceberg.conf import catalog_settings
from sinks.iceberg.merge import STORED
from sinks.lake.files import TableFiles
from sinks.lake.manifest import Manifest
from sinks.redshift.connection import executor_of
from sinks.redshift.statements import Executor, Statement, quote
from transforms.names import DELETED

__all__ = ["delta_counts", "iceberg_counts", "lake_counts", "target_counts", "warehouse_counts"]

Counts = tuple[int | None, int | None]  # rows, tombstones


def target_counts(spark: SparkSession, config: JobConfig, table: str, *, history: bool) -> Counts:
    """(rows, tombstones) of one table of the job's target."""
    target = config.target
    if isinstance(target, RedshiftTarget):
        password = config.warehouse_password() if target.uses_driver else None
        executor = executor_of(target, config.aws, password)
        return warehouse_counts(executor, target.db_schema, table, history=history)
    if isinstance(target, IcebergTarget):
        settings = catalog_settings(target, config.aws)
        catalog = IcebergCatalog(target.spark_catalog, target.namespace, settings)
        return iceberg_counts(spark, catalog, target.path or "", table, history=history)
    path = target.table_path(table)
    if isinstance(target, LakeTarget):
        return lake_counts(spark, path, target.state_dir)
    return delta_counts(spark, path, target.state_dir, history=history)


def lake_counts(spark: SparkSession, path: str, state_dir: str = "_cdc") -> Counts:
    files = TableFiles(spark, path, partition_by=(), state_dir=state_dir, max_records_per_file=1)
    versions = files.versions()
    if not versions:
        return None, None
    manifest = Manifest.from_json(files.storage.read_text(files.manifest_file(versions[-1])))
    return manifest.rows, sum(e.tombstones for e in manifest.partitions.values())


def delta_counts(
    spark: SparkSession, path: str, state_dir: str = "_cdc", *, history: bool = False
) -> Counts:
    if not DeltaTable.isDeltaTable(spark, path):
        return None, None
    rows = spark.read.format("delta").load(path).count()
    keys = f"{path.rstrip('/')}/{state_dir}/keys"
    if history or not DeltaTable.isDeltaTable(spark, keys):
        return rows, None
    return rows, spark.read.format("delta").load(keys).where(F.col(DELETED)).count()


def iceberg_counts(
    spark: SparkSession, catalog: IcebergCatalog, warehouse: str, table: str, *, history: bool
) -> Counts:
    catalog.define(spark, warehouse)
    if not catalog.exists(spark, table):
        return None, None
    rows = spark.table(catalog.table(table)).count()
    keys = f"{table}__cdc_keys"
    if history or not catalog.exists(spark, keys):
        return rows, None
    deleted = F.col(STORED[DELETED])
    return rows, spark.table(catalog.table(keys)).where(deleted).count()


def warehouse_counts(executor: Executor, schema: str, table: str, *, history: bool) -> Counts:
    exists = executor.query(
        Statement(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = {schema} AND table_name = {table}",
            {"schema": schema, "table": table},
        )
    )
    if not exists or not exists[0][0]:
        return None, None
    (rows,) = executor.query(Statement(f"SELECT count(*) FROM {quote(schema)}.{quote(table)}"))[0]
    if history:
        return int(rows), None
    keys = f"{quote(schema)}.{quote(table + '__cdc_keys')}"
    (tombstones,) = executor.query(Statement(f"SELECT count(*) FROM {keys} WHERE {DELETED}"))[0]
    return int(rows), int(tombstones)

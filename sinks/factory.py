"""Build the engine of every table from a job config: the one place that knows the
kinds of target."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import SparkSession

from aws import client
from config import IcebergTarget, JobConfig, LakeTarget, RedshiftTarget, S3Staging, TableConfig
from config.targets import TableFilesTarget
from sinks.base import Engine
from sinks.catalog import GlueTable
from sinks.delta import DeltaEngine
from sinks.delta.history import DeltaHistoryEngine
from sinks.iceberg import IcebergEngine, IcebergHistoryEngine
from sinks.iceberg.conf import catalog_settings
from sinks.lake import LakeEngine
from sinks.redshift.connection import executor_of, settings_of
from sinks.redshift.denormalize import Denormalized
from sinks.redshift.dialect import Column
from sinks.redshift.engine import WarehouseEngine
from sinks.redshift.s3_staging import S3Stage
from sinks.retention import Expiry

__all__ = ["make_engine", "make_engines"]


def make_engines(
    spark: SparkSession,
    config: JobConfig,
    tables: Sequence[TableConfig],
    types: Mapping[str, Mapping[str, str]],
) -> dict[str, Engine]:
    """The engines of `tables` (resolved: columns and keys known), their target tables
    created where the target needs them up front.

    `types` is each table's target column -> Spark type. A warehouse creates all
    replicated and denormalized tables before any batch: a refresh joins tables that
    other tables' batches may not have written yet.
    """
    if not isinstance(config.target, RedshiftTarget):
        return {t.name: make_engine(spark, config, t) for t in tables}
    keys = {t.name: t.keys or [] for t in tables}
    resolved = {d.name: Denormalized.resolve(d, keys, types) for d in config.denormalize}
    engines: dict[str, Engine] = {}
    for table in tables:
        feeds = [resolved[d.name] for d in config.denormalized_by(table.name)]
        engine = make_engine(spark, config, table, feeds)
        assert isinstance(engine, WarehouseEngine)
        engine.ensure_tables([Column(n, t) for n, t in types[table.name].items()])
        engines[table.name] = engine
    return engines


def make_engine(
    spark: SparkSession,
    config: JobConfig,
    table: TableConfig,
    denormalized: Sequence[Denormalized] = (),
) -> Engine:
    """The target's engine for one table."""
    target = config.target
    if isinstance(target, RedshiftTarget):
        return _warehouse(config, target, table, denormalized)
    if isinstance(target, IcebergTarget):
        iceberg = IcebergHistoryEngine if table.scd_type == 2 else IcebergEngine
        return iceberg(
            spark,
            "" if target.catalog == "rest" else target.path or "",  # a REST server places tables
            table=table.name,
            keys=table.keys or [],
            partition_by=table.partition_by,
            transforms=target.partition_transforms.get(table.name, []),
            namespace=target.namespace,
            spark_catalog=target.spark_catalog,
            write_mode=target.mode_of(table.name),
            state_write_mode=target.state_write_mode,
            expiry=Expiry.of(target.retention),
            catalog=catalog_settings(target, config.aws),
            target_file_size=target.target_file_size_bytes,
        )
    files_engine: type[LakeEngine | DeltaEngine | DeltaHistoryEngine] = DeltaEngine
    if isinstance(target, LakeTarget):
        files_engine = LakeEngine
    elif table.scd_type == 2:
        files_engine = DeltaHistoryEngine
    return files_engine(
        spark,
        target.table_path(table.name),
        keys=table.keys or [],
        partition_by=table.partition_by,
        state_dir=target.state_dir,
        max_records_per_file=target.max_records_per_file,
        catalog=_catalog(config, target, table),
        expiry=Expiry.of(target.retention),
    )


def _warehouse(
    config: JobConfig,
    target: RedshiftTarget,
    table: TableConfig,
    denormalized: Sequence[Denormalized],
) -> WarehouseEngine:
    password = config.warehouse_password() if target.uses_driver else None
    staging = None
    if isinstance(target.staging, S3Staging):
        aws = config.aws
        staging = S3Stage(target.staging.path, target.staging.iam_role, lambda: client("s3", aws))
    return WarehouseEngine(
        settings_of(target, password) if password is not None else None,
        schema=target.db_schema,
        table=table.name,
        keys=table.keys or [],
        denormalized=denormalized,
        retry_s=target.retry_s,
        scd_type=table.scd_type,
        dialect=target.dialect,
        executor=executor_of(target, config.aws, password),
        staging=staging,
        expiry=Expiry.of(target.retention),
    )


def _catalog(config: JobConfig, target: TableFilesTarget, table: TableConfig) -> GlueTable | None:
    """The table's Glue Data Catalog entry, when the target registers its tables."""
    if target.catalog is None:
        return None
    return GlueTable(
        client("glue", config.aws),
        database=target.catalog.database,
        table=table.name,
        location=target.table_path(table.name),
    )

"""What a Delta table's log says, and writes that are idempotent or evolve the schema.

Idempotency is Delta's own: with `spark.databricks.delta.write.txnAppId` and
`txnVersion` set in the session, a MERGE commits `SetTransaction(appId, version)`
atomically with its files, and a later MERGE with the same app id and a version
not above the recorded one is skipped by Delta before it reads anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from transforms.frames import empty_frame
from transforms.types import widens

__all__ = [
    "LogState",
    "add_missing_columns",
    "file_count",
    "files_frame",
    "idempotent",
    "log_state",
    "table_version",
]

TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"


@dataclass(frozen=True)
class LogState:
    version: int  # the table's current version; -1: no table yet
    last_batch: int  # the last batch id the writer committed; -1: none


def log_state(spark: SparkSession, path: str, writer_id: str) -> LogState:
    """The table's version and the writer's last committed batch, read from the log.

    The same look-up Delta makes before an idempotent write (`txnVersion` of a new
    transaction); delta-spark's Python API does not expose it.
    """
    txn = _transaction(spark, path)
    return LogState(
        version=int(txn.snapshot().version()), last_batch=int(txn.txnVersion(writer_id))
    )


def table_version(spark: SparkSession, path: str) -> int:
    """The table's current version, from its log's listing (-1: no table yet)."""
    return int(_transaction(spark, path).snapshot().version())


def file_count(spark: SparkSession, path: str) -> int:
    """Files of the table's latest version. Computed once per version and kept (a MERGE
    into that version asks Delta for the same number)."""
    return int(_transaction(spark, path).snapshot().numOfFiles())


def files_frame(spark: SparkSession, path: str) -> DataFrame:
    """The files of the table's latest version, one row each, as Delta's log lists them
    (`path`, `partitionValues`, `stats`, ...): Delta's own state, read without a scan."""
    return DataFrame(_transaction(spark, path).snapshot().allFiles().toDF(), spark)


def _transaction(spark: SparkSession, path: str) -> Any:
    """A new transaction on the table whose log is at `path` (never a parent folder's)."""
    jvm: Any = spark.sparkContext._jvm
    delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    return delta_log.startTransaction()


def idempotent(writer_id: str, batch_id: int) -> dict[str, str]:
    """Session settings that make the writes under them a no-op once (writer, batch) committed."""
    return {TXN_APP_ID: writer_id, TXN_VERSION: str(batch_id)}


def add_missing_columns(
    spark: SparkSession, path: str, schema: StructType, partition_by: Sequence[str]
) -> bool:
    """Create the table, or add the columns it lacks, in one commit; before that, widen
    the columns `schema` holds with a wider type (transforms/types.py). True when it
    created the table.

    A widening rewrites the table once, in one commit (`overwriteSchema`): Delta 3.3's own
    type widening covers fewer changes. Any other type change is left to the MERGE, which
    casts into the table's type or fails naming the column. Columns are nullable: a
    delete carries only the key.
    """
    snapshot = _transaction(spark, path).snapshot()
    created = int(snapshot.version()) < 0
    current = StructType.fromJson(json.loads(snapshot.schema().json()))
    _widen(spark, path, current, schema, partition_by)
    present = {f.name.lower() for f in current.fields}
    if created:  # a commit of metadata only: no Spark job
        (
            DeltaTable.createIfNotExists(spark)
            .location(path)
            .addColumns(StructType([StructField(f.name, f.dataType, True) for f in schema]))
            .partitionedBy(*partition_by)
            .execute()
        )
    elif any(f.name.lower() not in present for f in schema.fields):
        nullable = StructType([StructField(f.name, f.dataType, True) for f in schema.fields])
        (
            empty_frame(spark, nullable)
            .write.format("delta")
            .mode("append")
            .option("mergeSchema", "true")
            .partitionBy(*partition_by)
            .save(path)
        )
    return created


def _widen(
    spark: SparkSession,
    path: str,
    current: StructType,
    wanted: StructType,
    partition_by: Sequence[str],
) -> None:
    """Rewrite the table with the wider types `wanted` gives some of its columns."""
    types = {f.name.lower(): f.dataType for f in wanted.fields}
    wider = {
        f.name
        for f in current.fields
        if f.name.lower() in types
        and types[f.name.lower()] != f.dataType
        and widens(f.dataType.simpleString(), types[f.name.lower()].simpleString())
    }
    if not wider:
        return
    table = spark.read.format("delta").load(path)
    columns = [
        F.col(f"`{f.name}`").cast(types[f.name.lower()]).alias(f.name)
        if f.name in wider
        else F.col(f"`{f.name}`")
        for f in current.fields
    ]
    (
        table.select(*columns)
        .write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .partitionBy(*partition_by)
        .save(path)
    )

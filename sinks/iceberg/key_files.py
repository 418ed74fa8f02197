"""An Iceberg key table's data files as the ranges frame of sinks/file_ranges.py, from
Iceberg's `data_files` metadata table.

Iceberg keeps, per data file, each column's bounds (`readable_metrics`, typed), its value
and null counts, and the file's partition values. The ranges come from the table's
current snapshot, the one the batch's state read pins (one writer per table). A file
whose `_deleted_at` bounds are missing while it holds values (metrics turned off for the
column) may hold any tombstone. Delete files (merge-on-read) are left out: a key the table
holds is in a data file; one that a delete file removed only makes the answer wider.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from transforms.names import DELETED_AT

__all__ = ["data_files", "file_ranges"]


def file_ranges(spark: SparkSession, table: str, key: StructField, parts: StructType) -> DataFrame:
    """The data files of `table` (its quoted SQL name) as (`lo`, `hi`, `oldest_tombstone`,
    `has_stats`, partition columns...)."""
    metrics = F.col("readable_metrics")
    bounds, written = metrics[key.name], metrics[DELETED_AT]
    known = written["lower_bound"].isNotNull() | (
        written["null_value_count"] == written["value_count"]
    )
    return spark.table(f"{table}.data_files").select(
        bounds["lower_bound"].alias("lo"),
        bounds["upper_bound"].alias("hi"),
        written["lower_bound"].alias("oldest_tombstone"),
        F.coalesce(known, F.lit(False)).alias("has_stats"),
        *[F.col("partition")[p.name].cast(p.dataType).alias(p.name) for p in parts],
    )


def data_files(table: Any) -> int:
    """Data files of an Iceberg table (JVM `Table`) at its current snapshot, from the
    snapshot's summary: no Spark job."""
    snapshot = table.currentSnapshot()
    if snapshot is None:
        return 0
    return int(snapshot.summary().getOrDefault("total-data-files", "0"))

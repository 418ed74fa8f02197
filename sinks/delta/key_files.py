"""A Delta key table's files as the ranges frame of sinks/file_ranges.py, from Delta's log.

Delta keeps, per file, the lowest and highest value of its first 32 columns (the key
table's first column is the first key; `_deleted_at` is its fifth column or later,
within them) and the file's partition values. The ranges come from the snapshot the
batch's state read uses (the latest: one writer per table). A file without statistics
may hold any key, and any tombstone.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType, TimestampType

from sinks.delta.log import files_frame
from transforms.names import DELETED_AT

__all__ = ["file_ranges"]


def file_ranges(spark: SparkSession, path: str, key: StructField, parts: StructType) -> DataFrame:
    """The table's files as (`lo`, `hi`, `oldest_tombstone`, `has_stats`, partition
    columns...): the range of `key` each holds and the earliest `_deleted_at` (null when
    the file has no statistics, or no tombstone with a time), and its partition values."""
    low = StructType([key, StructField(DELETED_AT, TimestampType())])
    stats = F.from_json(
        F.col("stats"),
        StructType([StructField("minValues", low), StructField("maxValues", StructType([key]))]),
    )
    return files_frame(spark, path).select(
        stats["minValues"][key.name].alias("lo"),
        stats["maxValues"][key.name].alias("hi"),
        stats["minValues"][DELETED_AT].alias("oldest_tombstone"),
        F.col("stats").isNotNull().alias("has_stats"),
        *[F.col("partitionValues")[p.name].cast(p.dataType).alias(p.name) for p in parts],
    )

"""Which partitions of a key table may hold a batch's keys, from Delta's file statistics.

A batch's key range alone prunes badly: a few updates of old rows stretch it over nearly
every partition of a table partitioned by day (969-986 of 1,001 in the benchmark of
docs/benchmarks.md), so the key-table read grows with the table. Delta keeps, per file,
the lowest and highest value of its first columns (the key table's first column is the
first key) and the file's partition values. Joining the batch's distinct first-key values
with those ranges gives the partitions whose files may hold one of them, as the lake's
manifest does for its key index (sinks/lake/engine.py); the state read is restricted to
them, and Delta then skips every other partition before it reads a file.

The ranges come from the snapshot the batch's state read uses (the latest: one writer per
table) and are broadcast: one row per file. A file without statistics may hold any key.
The join costs a few tenths of a second, so it is made only for a key table of more than
`PRUNE_FROM_FILES` files: below that, reading the key range's files is cheaper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from sinks.delta.log import files_frame
from sinks.merge_scope import in_partitions

__all__ = ["PRUNE_FROM_FILES", "file_ranges", "summary_with_partitions"]

PRUNE_FROM_FILES = 64


def file_ranges(spark: SparkSession, path: str, key: StructField, parts: StructType) -> DataFrame:
    """The table's files as (`lo`, `hi`, partition columns...): the range of `key` each
    holds (null when the file has no statistics) and its partition values, typed."""
    bounds = StructType([key])
    stats = F.from_json(
        F.col("stats"),
        StructType([StructField("minValues", bounds), StructField("maxValues", bounds)]),
    )
    return files_frame(spark, path).select(
        stats["minValues"][key.name].alias("lo"),
        stats["maxValues"][key.name].alias("hi"),
        *[F.col("partitionValues")[p.name].cast(p.dataType).alias(p.name) for p in parts],
    )


def summary_with_partitions(
    changes: DataFrame, first: str, ranges: DataFrame, parts: StructType
) -> tuple[Any, Any, int, Column]:
    """In one Spark action: the lowest and highest `first` key of the batch, its count of
    changes, and a condition on the key table's partition columns that holds for the
    partitions whose files may hold one of the batch's `first` keys."""
    k = F.col(f"`{first}`")
    summary = changes.agg(F.min(k).alias("low"), F.max(k).alias("high"), F.count(F.lit(1)))
    probes = changes.select(k.alias("__k")).where(F.col("__k").isNotNull()).distinct()
    may_hold = (F.col("lo").isNull() | (F.col("__k") >= F.col("lo"))) & (
        F.col("hi").isNull() | (F.col("__k") <= F.col("hi"))
    )
    names = parts.fieldNames()
    found = probes.join(F.broadcast(ranges), may_hold).agg(
        F.collect_set(F.struct(*[F.col(f"`{n}`") for n in names])).alias("parts")
    )
    row = summary.crossJoin(found).first()
    assert row is not None
    listed: Sequence[Sequence[Any]] = [tuple(p) for p in row["parts"]]
    condition = in_partitions(parts, listed, lambda n: F.col(f"`{n}`"))
    return row[0], row[1], int(row[2]), condition

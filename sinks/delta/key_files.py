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

The same statistics say whether the key table's MERGE needs its clause that deletes
expired tombstones (`WHEN NOT MATCHED BY SOURCE AND <expired> THEN DELETE`): Delta cannot
tell which files such a clause leaves alone, so it rewrites every file of the MERGE's
scope, which doubles the MERGE's time on a large table. A file whose oldest tombstone
time (`_deleted_at`, the key table's fifth column or later, within the 32 Delta keeps
statistics for) is not before the expiry holds no expired tombstone; `may_hold_expired`
answers for the files of the scope, and a file without statistics may hold one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType, TimestampType

from sinks.delta.log import files_frame
from sinks.merge_scope import in_partitions
from transforms.names import DELETED_AT
from transforms.types import quote

__all__ = ["PRUNE_FROM_FILES", "file_ranges", "may_hold_expired", "summary_with_partitions"]

PRUNE_FROM_FILES = 64


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


def may_hold_expired(
    ranges: DataFrame,
    parts: StructType,
    partitions: Sequence[Sequence[Any]],
    bounds: tuple[Any, Any],
    before: datetime,
) -> bool:
    """Whether a file of `ranges` (`file_ranges`) within the key range `bounds` and, if
    the table is partitioned, the `partitions` may hold a tombstone written before
    `before`. One small Spark job over Delta's log state (a count: `isEmpty` tries one
    partition, then more, a job each)."""
    scope = _overlaps(F.lit(bounds[0]), F.lit(bounds[1]))
    if parts.fields:
        scope = scope & in_partitions(parts, partitions, _plain)
    expired = ~F.col("has_stats") | (F.col("oldest_tombstone") < F.lit(before))
    row = ranges.agg(F.count(F.when(scope & expired, 1))).first()
    return row is not None and int(row[0]) > 0


def summary_with_partitions(
    changes: DataFrame, first: str, ranges: DataFrame, parts: StructType
) -> tuple[Any, Any, int, Column]:
    """In one Spark action: the lowest and highest `first` key of the batch, its count of
    changes, and a condition on the key table's partition columns that holds for the
    partitions whose files may hold one of the batch's `first` keys."""
    k = _plain(first)
    summary = changes.agg(F.min(k).alias("low"), F.max(k).alias("high"), F.count(F.lit(1)))
    probes = changes.select(k.alias("__k")).where(F.col("__k").isNotNull()).distinct()
    may_hold = _overlaps(F.col("__k"), F.col("__k"))
    names = parts.fieldNames()
    found = probes.join(F.broadcast(ranges), may_hold).agg(
        F.collect_set(F.struct(*[_plain(n) for n in names])).alias("parts")
    )
    row = summary.crossJoin(found).first()
    assert row is not None
    listed: Sequence[Sequence[Any]] = [tuple(p) for p in row["parts"]]
    condition = in_partitions(parts, listed, _plain)
    return row[0], row[1], int(row[2]), condition


def _plain(name: str) -> Column:
    """A column of the key table (or the batch), not of a MERGE's aliases."""
    return F.col(quote(name))


def _overlaps(low: Column, high: Column) -> Column:
    """Files of `file_ranges` whose key range meets [low, high]; a bound the statistics
    lack (null) meets everything."""
    return (F.col("lo").isNull() | (F.col("lo") <= high)) & (
        F.col("hi").isNull() | (F.col("hi") >= low)
    )

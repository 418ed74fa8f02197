"""What a table format's file statistics say about a key table: which partitions may hold
a batch's keys, and whether a MERGE's scope may hold an expired tombstone.

A batch's key range alone prunes badly: a few updates of old rows stretch it over nearly
every partition of a table partitioned by day (969-986 of 1,001 in the benchmark of
docs/benchmarks.md), so the key-table read grows with the table. Delta's log and
Iceberg's metadata keep, per file, the lowest and highest value of its columns and the
file's partition values. Joining the batch's distinct first-key values with those ranges
gives the partitions whose files may hold one of them, as the lake's manifest does for its
key index (sinks/lake/candidates.py); the state read is restricted to them, and the format
then skips every other partition before it reads a file.

The same statistics say whether the key table's MERGE needs its clause that deletes
expired tombstones (`WHEN NOT MATCHED BY SOURCE AND <expired> THEN DELETE`): the format
cannot tell which files such a clause leaves alone, so it reads (and, copy-on-write,
rewrites) every file of the MERGE's scope. A file whose oldest tombstone time
(`_deleted_at`) is not before the expiry holds no expired tombstone.

Each format gives its files as a ranges frame, one row per data file: `lo` and `hi` (the
first key's bounds; null: unknown, meets every key), `oldest_tombstone` (the lowest
`_deleted_at`; null: no tombstone with a time), `has_stats` (false: the file may hold
anything) and the partition columns (sinks/delta/key_files.py, sinks/iceberg/key_files.py).
The ranges are asked only of a key table of more than `PRUNE_FROM_FILES` files: below
that, reading the key range's files is cheaper than the question.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from sinks.merge_scope import in_partitions, in_partitions_pushed
from transforms.types import quote

__all__ = ["PRUNE_FROM_FILES", "may_hold_expired", "summary_with_partitions"]

PRUNE_FROM_FILES = 64


def may_hold_expired(
    ranges: DataFrame,
    parts: StructType,
    partitions: Sequence[Sequence[Any]],
    bounds: tuple[Any, Any],
    before: datetime,
) -> bool:
    """Whether a file of `ranges` within the key range `bounds` and, if the table is
    partitioned, the `partitions` may hold a tombstone written before `before`. One
    small Spark job over the format's metadata (a count: `isEmpty` tries one partition,
    then more, a job each)."""
    scope = _overlaps(F.lit(bounds[0]), F.lit(bounds[1]))
    if parts.fields:
        scope = scope & in_partitions(parts, partitions, _plain)
    expired = ~F.col("has_stats") | (F.col("oldest_tombstone") < F.lit(before))
    row = ranges.agg(F.count(F.when(scope & expired, 1))).first()
    return row is not None and int(row[0]) > 0


def summary_with_partitions(
    changes: DataFrame, first: str, ranges: DataFrame, parts: StructType, *, pushed: bool = False
) -> tuple[Any, Any, int, Column]:
    """In one Spark action (two jobs: the ranges' broadcast, then the batch's): the lowest
    and highest `first` key of the batch, its count of changes, and a condition on the key
    table's partition columns that holds for the partitions whose files may hold one of
    the batch's `first` keys (`pushed`: in the form a data source receives as filters,
    sinks/merge_scope.py)."""
    k = _plain(first)
    # Each key once, with its changes counted; beside it, the partitions of the files that
    # may hold it (the left join keeps keys no file holds: they count, and bound the
    # range). A joined file always has `has_stats`: a row without it found none, and its
    # partition columns are not a NULL partition's values. The joined rows stay where the
    # first grouping put each key, so all of it is one job beside the broadcast's.
    keys = changes.groupBy(k.alias("__k")).agg(F.count(F.lit(1)).alias("__n"))
    joined = keys.join(F.broadcast(ranges), _overlaps(F.col("__k"), F.col("__k")), "left")
    partition = F.struct(*[_plain(n) for n in parts.fieldNames()])
    per_key = joined.groupBy("__k").agg(
        F.first("__n").alias("__n"),
        F.collect_set(F.when(F.col("has_stats").isNotNull(), partition)).alias("__parts"),
    )
    row = per_key.agg(
        F.min("__k"), F.max("__k"), F.sum("__n"), F.flatten(F.collect_list("__parts"))
    ).first()
    assert row is not None
    listed: Sequence[Sequence[Any]] = sorted({tuple(p) for p in row[3] or []}, key=repr)
    listing = in_partitions_pushed if pushed else in_partitions
    condition = listing(parts, listed, _plain)
    return row[0], row[1], int(row[2] or 0), condition


def _plain(name: str) -> Column:
    """A column of the key table (or the batch), not of a MERGE's aliases."""
    return F.col(quote(name))


def _overlaps(low: Column, high: Column) -> Column:
    """Files whose key range meets [low, high]; a bound the statistics lack (null) meets
    everything."""
    return (F.col("lo").isNull() | (F.col("lo") <= high)) & (
        F.col("hi").isNull() | (F.col("hi") >= low)
    )

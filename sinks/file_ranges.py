"""What a table format's file statistics say about a key table: which partitions may hold
a batch's keys, and whether a MERGE's scope may hold an expired tombstone.

A batch's key range alone prunes badly: a few updates of old rows stretch it over nearly
every partition of a table partitioned by day (969-986 of 1,001 in the engines'
benchmark at 5M rows, as the throughput issue measured it), so the key-table read grows
with the table. Delta's log and Iceberg's metadata keep, per file, the lowest and
highest value of its columns and the file's partition values. Matching the batch's
first-key values with those ranges gives the partitions whose files may hold one of
them, as the lake's manifest does for its key index (sinks/lake/candidates.py): a
whole-number key as spans on the driver (sinks/key_spans.py), any other by a join on the
executors. The state read is restricted to them, and the format then skips every other
partition before it reads a file.

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
that, reading the key range's files is cheaper than the question. `StatisticsPruned` asks
both questions for the table pairs whose formats keep such statistics (Delta, Iceberg).
It collects a batch's ranges into the driver once (`collected`, one Spark job) and asks
both questions of that copy: the partitions of a whole-number key come from the batch's
key spans matched on the driver (one Spark job over the batch, no broadcast), the expiry
question is a filter of rows the driver holds (no Spark job), and the file list is read
once a batch, not twice (on an object store, Iceberg's metadata table would read every
manifest again). Any other key type joins the batch's keys with the copy broadcast (a
small job of its own: Spark collects even a local relation through a job to broadcast
it). The key table does not change between the two questions: its MERGE is the batch's
last commit. The copy is what a broadcast of the ranges would hold on the driver anyway:
a row of a few fields per file of the key table.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegralType, StructField, StructType

from sinks.key_spans import meeting, spans
from sinks.merge_scope import in_partitions, in_partitions_pushed
from sinks.table_pair import LatestPair
from transforms.types import quote

__all__ = [
    "PRUNE_FROM_FILES",
    "StatisticsPruned",
    "collected",
    "may_hold_expired",
    "summary_with_partitions",
]

PRUNE_FROM_FILES = 64
# Files whose ranges the driver matches with a batch's key spans; a key table of more is
# joined with the batch's keys on the executors.
DRIVER_RANGES = 100_000


def may_hold_expired(
    ranges: DataFrame,
    parts: StructType,
    partitions: Sequence[Sequence[Any]],
    bounds: tuple[Any, Any],
    before: datetime,
) -> bool:
    """Whether a file of `ranges` (`collected`) within the key range `bounds` and, if the
    table is partitioned, the `partitions` may hold a tombstone written before `before`.
    Filtered where the driver holds the ranges: no Spark job."""
    scope = _overlaps(F.lit(bounds[0]), F.lit(bounds[1]))
    if parts.fields:
        scope = scope & in_partitions(parts, partitions, None)
    expired = ~F.col("has_stats") | (F.col("oldest_tombstone") < F.lit(before))
    return bool(ranges.where(scope & expired).limit(1).collect())


def collected(ranges: DataFrame) -> DataFrame:
    """`ranges` collected into the driver (one Spark job) and given back as a local
    relation, which Spark filters without a job. Kept in the JVM: a row a file, never
    converted to Python."""
    spark = ranges.sparkSession
    jdf = ranges._jdf
    return DataFrame(spark._jsparkSession.createDataFrame(jdf.collectAsList(), jdf.schema()), spark)


def summary_with_partitions(
    changes: DataFrame, first: str, ranges: DataFrame, parts: StructType, *, pushed: bool = False
) -> tuple[Any, Any, int, Column]:
    """The lowest and highest `first` key of the batch, its count of changes, and a
    condition on the key table's partition columns that holds for the partitions whose
    files may hold one of the batch's `first` keys (`pushed`: in the form a data source
    receives as filters, sinks/merge_scope.py).

    A whole-number key, with `ranges` `collected` and at most `DRIVER_RANGES` of them:
    the batch's keys summed up as spans in one Spark job and the files that meet them
    found on the driver (sinks/key_spans.py). Otherwise one Spark action of two jobs
    (the ranges' broadcast, then the batch's) that joins each key with the files'
    ranges on the executors."""
    listing = in_partitions_pushed if pushed else in_partitions
    if isinstance(changes.schema[first].dataType, IntegralType):
        spanned = _by_spans(changes, first, ranges, parts)
        if spanned is not None:
            low, high, count, found = spanned
            return low, high, count, listing(parts, found, None)
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
    return row[0], row[1], int(row[2] or 0), listing(parts, listed, None)


def _by_spans(
    changes: DataFrame, first: str, ranges: DataFrame, parts: StructType
) -> tuple[int | None, int | None, int, list[tuple[Any, ...]]] | None:
    """`summary_with_partitions` by spans (the partitions as their values); None when the
    ranges are too many to match on the driver, or none knows its keys."""
    rows = ranges.limit(DRIVER_RANGES + 1).collect()  # collected: no Spark job
    if len(rows) > DRIVER_RANGES:
        return None
    names = parts.fieldNames()
    known = [
        (tuple(r[n] for n in names), int(r["lo"]), int(r["hi"]))
        for r in rows
        if r["lo"] is not None and r["hi"] is not None
    ]
    if not known:
        return None
    # A file whose statistics lack a bound may hold any key.
    anywhere = {tuple(r[n] for n in names) for r in rows if r["lo"] is None or r["hi"] is None}
    summed = spans(changes, first, min(lo for _, lo, _ in known), max(hi for _, _, hi in known))
    found = meeting(known, summed.spans) | (anywhere if summed.spans else set())
    return summed.low, summed.high, summed.changes, sorted(found, key=repr)


class StatisticsPruned(LatestPair):
    """A table pair whose state table's format keeps per-file statistics: for a key table of
    more than `PRUNE_FROM_FILES` files whose first key is not a partition column, the
    state read is cut to the partitions that may hold the batch's keys (partitioned
    tables), and the key MERGE's expiry clause is asked for; a smaller one gets neither,
    where asking costs more than it saves. The format gives its file count and its
    ranges frame."""

    _parts: list[str]
    # Whether the state read's partition condition must be one a data source receives as
    # a filter (Iceberg; Delta evaluates any condition on its own file list).
    pushed_partitions: ClassVar[bool] = False
    # The state table's ranges as collected for the batch being applied (None: not asked)
    _ranges: DataFrame | None = None

    @abstractmethod
    def _state_files(self, spark: SparkSession) -> int:
        """Files of the state table at its current version (no Spark job where the
        format can say so)."""

    @abstractmethod
    def _state_ranges(self, spark: SparkSession, key: StructField, parts: StructType) -> DataFrame:
        """The state table's files as the ranges frame of this module."""

    def _summary(self, changes: DataFrame) -> tuple[Any, Any, int, Column | None]:
        """The key range and count, and (a partitioned key table that statistics serve)
        the partitions whose files may hold the batch's keys, from the same Spark action."""
        spark = changes.sparkSession
        self._ranges = None  # a new batch: the key table may have changed since the last
        if self._memory.empty or not self._parts or not self._statistics_serve(spark):
            return super()._summary(changes)
        ranges, parts = self._file_ranges(changes)
        return summary_with_partitions(
            changes, self._keys[0], ranges, parts, pushed=self.pushed_partitions
        )

    def _may_hold_expired(
        self,
        accepted: DataFrame,
        partitions: tuple[tuple[Any, ...], ...],
        bounds: tuple[Any, Any],
        before: datetime | None,
    ) -> bool:
        """Whether the key table's MERGE scope may hold an expired tombstone: never with
        tombstones kept forever; asked of the statistics when they serve (of the ranges
        the batch's summary collected, when it did); assumed otherwise."""
        if before is None:
            return False
        if self._ranges is None and not self._statistics_serve(accepted.sparkSession):
            return True
        ranges, parts = self._file_ranges(accepted)
        return may_hold_expired(ranges, parts, list(partitions), bounds, before)

    def _statistics_serve(self, spark: SparkSession) -> bool:
        """Whether the statistics answer this batch's questions: they hold its first key
        (not a partition column), and the table has files enough that asking costs less
        than reading them."""
        return self._keys[0] not in self._parts and self._state_files(spark) > PRUNE_FROM_FILES

    def _file_ranges(self, changes: DataFrame) -> tuple[DataFrame, StructType]:
        """The state table's ranges, `collected` once a batch, and its partition columns."""
        parts = StructType([changes.schema[p] for p in self._parts])
        if self._ranges is None:
            key = changes.schema[self._keys[0]]
            self._ranges = collected(self._state_ranges(changes.sparkSession, key, parts))
        return self._ranges, parts


def _plain(name: str) -> Column:
    """A column of the key table (or the batch), not of a MERGE's aliases."""
    return F.col(quote(name))


def _overlaps(low: Column, high: Column) -> Column:
    """Files whose key range meets [low, high]; a bound the statistics lack (null) meets
    everything."""
    return (F.col("lo").isNull() | (F.col("lo") <= high)) & (
        F.col("hi").isNull() | (F.col("hi") >= low)
    )

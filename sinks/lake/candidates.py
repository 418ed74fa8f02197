"""Which partitions of a lake table may hold one of a batch's keys: those whose range of
the first key column (in the manifest) holds one of the batch's first keys.

For a whole-number first key (the usual auto-increment id) the batch's keys are summed
up on the executors as at most `SPANS` spans: the table's key range cut into that many
equal buckets (keys below or above it in one bucket each), each bucket's lowest and
highest batch key. The driver then finds the ranges that meet a span, by binary search.
One small Spark job, and what it brings back is bounded whatever the batch's size; a
range that meets a span without holding one of its keys only costs a partition's key
index read for nothing. Any other key type is matched range by range, on the executors:
a join with the ranges broadcast, and a Spark job more (the broadcast's).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegralType

from transforms.frames import text_frame

__all__ = ["SPANS", "candidates", "meeting"]

SPANS = 4096  # buckets of the table's key range; at most two more for keys outside it

Range = tuple[str, str, str]  # partition path, lowest and highest first key, as text


def candidates(
    spark: SparkSession, changes: DataFrame, first: str, ranges: Sequence[Range]
) -> list[str]:
    """The paths of the `ranges` that may hold one of `changes`' values of `first`."""
    if not ranges:
        return []
    if isinstance(changes.schema[first].dataType, IntegralType):
        numbered = [(path, int(lo), int(hi)) for path, lo, hi in ranges]
        return sorted(meeting(numbered, _spans(changes, first, numbered)))
    return _joined(spark, changes, first, ranges)


def meeting(ranges: Sequence[tuple[str, int, int]], spans: Sequence[tuple[int, int]]) -> set[str]:
    """The paths of the `ranges` that meet one of the disjoint `spans` (both inclusive)."""
    ordered = sorted(spans)
    starts = [a for a, _ in ordered]
    ends = [b for _, b in ordered]
    hits = set()
    for path, lo, hi in ranges:
        at = bisect_left(ends, lo)  # the first span that ends at or after the range starts
        if at < len(ordered) and starts[at] <= hi:
            hits.add(path)
    return hits


def _spans(
    changes: DataFrame, first: str, ranges: Sequence[tuple[str, int, int]]
) -> list[tuple[int, int]]:
    low, high = min(lo for _, lo, _ in ranges), max(hi for _, _, hi in ranges)
    width = max(1, -(-(high - low + 1) // SPANS))
    key = F.col(f"`{first}`")
    # As decimals: a difference of two longs may not fit a long.
    offset = key.cast("decimal(20,0)") - F.lit(low).cast("decimal(20,0)")
    bucket = F.least(F.greatest(F.floor(offset / width), F.lit(-1)), F.lit(SPANS))
    rows = (
        changes.where(key.isNotNull())
        .groupBy(bucket.alias("bucket"))
        .agg(F.min(key).alias("a"), F.max(key).alias("b"))
        .collect()
    )
    return [(int(r["a"]), int(r["b"])) for r in rows]


def _joined(
    spark: SparkSession, changes: DataFrame, first: str, ranges: Sequence[Range]
) -> list[str]:
    key_type = changes.schema[first].dataType
    bounds = text_frame(spark, ranges, ["path", "lo", "hi"]).select(
        "path", F.col("lo").cast(key_type).alias("lo"), F.col("hi").cast(key_type).alias("hi")
    )
    probes = changes.select(F.col(f"`{first}`").alias("k")).distinct()
    hits = probes.join(
        F.broadcast(bounds), (F.col("k") >= F.col("lo")) & (F.col("k") <= F.col("hi"))
    )
    return sorted(str(r["path"]) for r in hits.select("path").distinct().collect())

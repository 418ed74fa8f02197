"""A batch's whole-number keys summed up as spans, and the key ranges (of files or
partitions) that meet them: which may hold one of the batch's keys.

The table's key range is cut into `SPANS` equal buckets (keys below or above it in one
bucket each) and each bucket gives its lowest and highest batch key: one small Spark job
whose result is bounded whatever the batch's size. The driver then finds the ranges that
meet a span by binary search, instead of joining every key with every range on the
executors (a nested loop, and a broadcast that is a job of its own). A range that meets a
span without holding one of its keys only costs reading it for nothing. The lake asks it
of its manifest's partitions (sinks/lake/candidates.py), Delta and Iceberg of their key
tables' files (sinks/file_ranges.py).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

__all__ = ["SPANS", "KeySpans", "meeting", "spans"]

SPANS = 4096  # buckets of the table's key range; at most two more for keys outside it

Where = TypeVar("Where", bound=Hashable)


@dataclass(frozen=True)
class KeySpans:
    """A batch's first keys: disjoint spans that hold them all, and the batch's count."""

    spans: list[tuple[int, int]]
    changes: int  # every change of the batch, a NULL key's too

    @property
    def low(self) -> int | None:
        return min((a for a, _ in self.spans), default=None)

    @property
    def high(self) -> int | None:
        return max((b for _, b in self.spans), default=None)


def spans(changes: DataFrame, first: str, low: int, high: int) -> KeySpans:
    """`changes`' values of the whole-number column `first` as at most `SPANS` + 2 spans
    of the range [`low`, `high`] (the table's), in one Spark job."""
    width = max(1, -(-(high - low + 1) // SPANS))
    key = F.col(f"`{first}`")
    # As decimals: a difference of two longs may not fit a long.
    offset = key.cast("decimal(20,0)") - F.lit(low).cast("decimal(20,0)")
    bucket = F.least(F.greatest(F.floor(offset / width), F.lit(-1)), F.lit(SPANS))
    rows = (
        changes.groupBy(bucket.alias("bucket"))  # a NULL key: the NULL bucket, counted only
        .agg(F.min(key).alias("a"), F.max(key).alias("b"), F.count(F.lit(1)).alias("n"))
        .collect()
    )
    found = [(int(r["a"]), int(r["b"])) for r in rows if r["a"] is not None]
    return KeySpans(found, sum(int(r["n"]) for r in rows))


def meeting(
    ranges: Sequence[tuple[Where, int, int]], spans: Sequence[tuple[int, int]]
) -> set[Where]:
    """What the `ranges` (a label, the lowest and highest key) that meet one of the
    disjoint `spans` (both inclusive) are labelled."""
    ordered = sorted(spans)
    starts = [a for a, _ in ordered]
    ends = [b for _, b in ordered]
    hits = set()
    for label, lo, hi in ranges:
        at = bisect_left(ends, lo)  # the first span that ends at or after the range starts
        if at < len(ordered) and starts[at] <= hi:
            hits.add(label)
    return hits

"""A batch's whole-number keys as spans, and the ranges that meet them (sinks/key_spans.py)."""

from __future__ import annotations

import uuid
from itertools import pairwise

from pyspark.sql import SparkSession

from sinks.key_spans import SPANS, meeting, spans
from tests.unit.test_parquet_widening import spark_jobs

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def test_a_range_meets_a_span_it_overlaps_ends_included_and_not_one_in_a_gap() -> None:
    found = [(10, 20), (40, 40), (100, 150)]
    ranges = [("a", 0, 9), ("b", 20, 30), ("c", 21, 39), ("d", 35, 45), ("e", 151, 900)]
    ranges += [("f", 120, 130), ("g", -5, 1000)]
    assert meeting(ranges, found) == {"b", "d", "f", "g"}
    assert meeting(ranges, []) == set()
    assert meeting([((2020, None), 0, 10), ((2021, 1), 50, 60)], found) == {(2020, None)}


def test_spans_hold_every_key_count_every_change_and_take_one_spark_job(
    spark: SparkSession,
) -> None:
    """Keys within the table's range, below and above it, at a long's ends, repeated, and
    NULL: every key lies in a span, the spans are disjoint and at most SPANS + 2, the
    count takes every change (the NULL key's too), in one Spark job."""
    keys = [*range(0, 50_000, 7), 3, 3, -10, 10**12, LONG_MIN, LONG_MAX, None]
    batch = spark.createDataFrame([(k,) for k in keys], "id bigint")
    with spark_jobs(spark, f"spans-{uuid.uuid4().hex}") as jobs:
        summed = spans(batch, "id", 0, 49_999)
    assert len(jobs) == 1
    assert summed.changes == len(keys)
    assert (summed.low, summed.high) == (LONG_MIN, LONG_MAX)
    ordered = sorted(summed.spans)
    assert len(ordered) <= SPANS + 2
    assert all(b < a for (_, b), (a, _) in pairwise(ordered))
    assert all(any(a <= k <= b for a, b in ordered) for k in keys if k is not None)


def test_a_batch_of_null_keys_has_no_span_and_still_counts(spark: SparkSession) -> None:
    batch = spark.createDataFrame([(None,), (None,)], "id bigint")
    summed = spans(batch, "id", 0, 10)
    assert (summed.spans, summed.changes, summed.low, summed.high) == ([], 2, None, None)

"""Which lake partitions a batch's keys may be in (sinks/lake/candidates.py)."""

from __future__ import annotations

import random

from pyspark.sql import SparkSession

from sinks.lake.candidates import candidates

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def exact(ranges: list[tuple[str, str, str]], keys: list[int]) -> set[str]:
    return {p for p, lo, hi in ranges if any(int(lo) <= k <= int(hi) for k in keys)}


def test_whole_number_keys_find_every_range_holding_one_and_stay_close_to_exact(
    spark: SparkSession,
) -> None:
    rng = random.Random(5)
    ranges = []
    for n in range(300):  # days of growing ids, a few overlapping
        lo = n * 1000 + rng.randrange(-50, 50)
        ranges.append((f"day={n}", str(lo), str(lo + 999)))
    keys = [rng.randrange(295_000, 301_000) for _ in range(500)] + [7_777, 123_456]
    keys += [400_000, -3]  # beyond the table, both ways
    batch = spark.createDataFrame([(k,) for k in keys], "id bigint")
    found = set(candidates(spark, batch, "id", ranges))
    truth = exact(ranges, keys)
    assert truth <= found
    assert len(found - truth) <= 4  # a span that meets a range without a key in it


def test_keys_at_the_ends_of_a_long_do_not_overflow(spark: SparkSession) -> None:
    ranges = [("lo", str(LONG_MIN), str(LONG_MIN + 10)), ("hi", str(LONG_MAX - 10), str(LONG_MAX))]
    ranges.append(("mid", "0", "0"))
    batch = spark.createDataFrame([(LONG_MAX,), (LONG_MIN + 3,)], "id bigint")
    assert candidates(spark, batch, "id", ranges) == ["hi", "lo"]


def test_other_key_types_are_matched_range_by_range(spark: SparkSession) -> None:
    ranges = [("a", "apple", "banana"), ("b", "cherry", "date"), ("c", "fig", "grape")]
    batch = spark.createDataFrame([("avocado",), ("dog",), (None,)], "id string")
    assert candidates(spark, batch, "id", ranges) == ["a"]
    assert candidates(spark, batch, "id", []) == []

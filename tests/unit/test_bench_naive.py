"""The benchmarks' count of keys a naive MERGE gets wrong."""

from __future__ import annotations

from pyspark.sql import SparkSession

from bench.naive import wrong_keys

SCHEMA = "id int, name string, day int"


def test_wrong_keys_counts_missing_extra_and_different_rows(spark: SparkSession) -> None:
    expected = spark.createDataFrame([(1, "a", 1), (2, "b", 1), (3, None, 2), (4, "d", 2)], SCHEMA)
    actual = spark.createDataFrame(
        [(1, "a", 1), (2, "b", 9), (3, None, 2), (5, "resurrected", 1)], SCHEMA
    )
    # 2: another day; 4: missing; 5: extra. 1 and 3 (NULL on both sides) are right.
    assert wrong_keys(expected, actual, ["id"]) == 3
    assert wrong_keys(expected, expected, ["id"]) == 0

"""The questions Delta and Iceberg ask their file statistics (sinks/file_ranges.py), on a
ranges frame made by hand: the answers, and the Spark jobs they cost."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import IntegerType, StructField, StructType

from sinks import file_ranges
from sinks.file_ranges import collected, may_hold_expired, summary_with_partitions
from tests.unit.test_parquet_widening import spark_jobs

PARTS = StructType([StructField("p", IntegerType())])
RANGES = "lo bigint, hi bigint, oldest_tombstone timestamp, has_stats boolean, p int"


def ranges(spark: SparkSession, last: datetime | None = None) -> DataFrame:
    """Sixteen files, one a partition: keys 10p..10p+9 in partition p (p = 15 holds NULL
    partition values instead), spread over eight Spark partitions."""
    rows: list[tuple[Any, ...]] = [(p * 10, p * 10 + 9, None, True, p) for p in range(15)]
    rows.append((150, 159, last, True, None))
    return spark.createDataFrame(rows, RANGES).repartition(8, "lo")


@pytest.mark.parametrize(("oldest", "expected"), [(datetime(2020, 1, 1), True), (None, False)])
def test_whether_the_scope_may_hold_an_expired_tombstone_costs_no_spark_job_once_collected(
    spark: SparkSession, oldest: datetime | None, expected: bool
) -> None:
    """The key table's files over eight Spark partitions, collected into the driver in
    one job; only the NULL partition's file may hold an expired tombstone, and the
    question asked of the collected files runs no job, whatever the answer."""
    with spark_jobs(spark, f"collect-{uuid.uuid4().hex}") as jobs:
        files = collected(ranges(spark, oldest))
    assert len(jobs) == 1
    with spark_jobs(spark, f"expiry-{uuid.uuid4().hex}") as jobs:
        answer = may_hold_expired(files, PARTS, [(None,), (3,)], (0, 200), datetime(2021, 1, 1))
        outside = may_hold_expired(files, PARTS, [(3,)], (0, 200), datetime(2021, 1, 1))
        below = may_hold_expired(files, PARTS, [(None,)], (0, 149), datetime(2021, 1, 1))
    assert (answer, outside, below) == (expected, False, False)
    assert jobs == []


@pytest.mark.parametrize(("driver_ranges", "expected_jobs"), [(100_000, 1), (0, 2)])
def test_the_key_range_and_the_partitions_that_may_hold_the_keys_by_spans_or_by_a_join(
    spark: SparkSession,
    monkeypatch: pytest.MonkeyPatch,
    driver_ranges: int,
    expected_jobs: int,
) -> None:
    """Keys 3, 4 and 155 (the NULL partition's file), twice key 4, 999 that no file holds,
    and a NULL key; a file of partition 20 without statistics may hold any key. The range
    and the count take every change, the partitions only those of files that may hold a
    key. Matched on the driver with the batch's key spans: one job over the batch; with
    more files than the driver matches, joined on the executors: two jobs (the files'
    broadcast, then the batch's)."""
    monkeypatch.setattr(file_ranges, "DRIVER_RANGES", driver_ranges)
    batch = spark.createDataFrame([(3,), (4,), (4,), (155,), (999,), (None,)], "id bigint")
    unknown = spark.createDataFrame([(None, None, None, False, 20)], RANGES)
    files = collected(ranges(spark).unionByName(unknown))
    with spark_jobs(spark, f"summary-{uuid.uuid4().hex}") as jobs:
        low, high, count, condition = summary_with_partitions(batch, "id", files, PARTS)
    assert (low, high, count) == (3, 999, 6)
    assert len(jobs) == expected_jobs
    assert {r["p"] for r in files.where(condition).collect()} == {0, None, 20}
    pushed = summary_with_partitions(batch, "id", files, PARTS, pushed=True)[3]
    assert {r["p"] for r in files.where(pushed).collect()} == {0, None, 20}


def test_a_text_key_is_joined_with_the_files_ranges(spark: SparkSession) -> None:
    """Keys the driver cannot sum up as spans: each key joined with the ranges."""
    schema = "lo string, hi string, oldest_tombstone timestamp, has_stats boolean, p int"
    files = collected(
        spark.createDataFrame([("a", "c", None, True, 1), ("m", "p", None, True, 2)], schema)
    )
    batch = spark.createDataFrame([("b",), ("z",)], "id string")
    low, high, count, condition = summary_with_partitions(batch, "id", files, PARTS)
    assert (low, high, count) == ("b", "z", 2)
    assert {r["p"] for r in files.where(condition).collect()} == {1}

"""The questions Delta and Iceberg ask their file statistics (sinks/file_ranges.py), on a
ranges frame made by hand: the answers, and the Spark jobs they cost."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import IntegerType, StructField, StructType

from sinks.file_ranges import may_hold_expired, summary_with_partitions
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
def test_whether_the_scope_may_hold_an_expired_tombstone_is_one_spark_job(
    spark: SparkSession, oldest: datetime | None, expected: bool
) -> None:
    """Asked of the key table's files over eight Spark partitions; only the NULL
    partition's file may hold one. A "no" reads every partition, which `isEmpty` reaches
    after a job for each round of partitions it tries."""
    files = ranges(spark, oldest)
    with spark_jobs(spark, f"expiry-{uuid.uuid4().hex}") as jobs:
        answer = may_hold_expired(files, PARTS, [(None,), (3,)], (0, 200), datetime(2021, 1, 1))
    assert answer is expected
    assert len(jobs) == 1


def test_the_key_range_and_the_partitions_that_may_hold_the_keys_take_two_spark_jobs(
    spark: SparkSession,
) -> None:
    """Keys 3, 4 and 155 (the NULL partition's file), twice key 4, and 999 that no file
    holds: the range and the count take every change, the partitions only the held keys'.
    Two jobs: the files' broadcast, then the batch's."""
    batch = spark.createDataFrame([(3,), (4,), (4,), (155,), (999,)], "id bigint")
    files = ranges(spark)
    with spark_jobs(spark, f"summary-{uuid.uuid4().hex}") as jobs:
        low, high, count, condition = summary_with_partitions(batch, "id", files, PARTS)
    assert (low, high, count) == (3, 999, 5)
    assert len(jobs) == 2
    assert {r["p"] for r in files.where(condition).collect()} == {0, None}
    pushed = summary_with_partitions(batch, "id", files, PARTS, pushed=True)[3]
    assert {r["p"] for r in files.where(pushed).collect()} == {0, None}

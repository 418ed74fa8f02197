"""A source batch's tables are counted together (runtime/routing.py `tally_records`): one
Spark job for every table, whatever their number, and each table's counts its own; each
table's records are then applied in as few tasks as their count needs (`compact`)."""

from __future__ import annotations

from datetime import datetime

import pytest
from pyspark.sql import DataFrame, SparkSession

from runtime import sizing
from runtime.routing import tally_records
from runtime.sizing import compact
from tests.unit.test_parquet_widening import spark_jobs

SCHEMA = "id int, _op string, _error string, _commit_ts timestamp"


def records(spark: SparkSession, rows: list[tuple[object, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, SCHEMA).persist()


@pytest.mark.parametrize("parallel", [1, 4])
def test_every_table_of_a_batch_is_counted_in_one_spark_job(
    spark: SparkSession, parallel: int
) -> None:
    early, late = datetime(2026, 1, 1, 8), datetime(2026, 1, 1, 9)
    tables = {
        "orders": records(
            spark, [(1, "I", None, early), (2, "U", None, late), (3, "U", None, early)]
        ),
        "users": records(spark, [(1, "D", None, late), (2, "I", "bad date", early)]),
        "empty": records(spark, []),
        **{f"t{i}": records(spark, [(i, "I", None, early)]) for i in range(12)},
        "altered": records(spark, [(None, "A", None, late)]),
        "it's a \\ name": records(spark, [(7, "U", None, late)]),  # names are SQL text
    }
    try:
        with spark_jobs(spark, f"tally-{parallel}") as jobs:
            tallies = tally_records(tables, parallel)
        assert len(jobs) == 1  # (the tests' session plans without adaptive execution)
        by = {
            name: {(r["_op"], r["ok"]): (r["n"], r["lo"], r["hi"]) for r in rows}
            for name, rows in tallies.items()
        }
        assert by["orders"] == {("I", True): (1, early, early), ("U", True): (2, early, late)}
        assert by["users"] == {("D", True): (1, late, late), ("I", False): (1, early, early)}
        assert by["altered"] == {("A", True): (1, late, late)}
        assert by["it's a \\ name"] == {("U", True): (1, late, late)}
        assert "empty" not in by
        assert all(by[f"t{i}"] == {("I", True): (1, early, early)} for i in range(12))
    finally:
        for frame in tables.values():
            frame.unpersist()


def test_a_batch_without_tables_starts_no_job(spark: SparkSession) -> None:
    with spark_jobs(spark, "none") as jobs:
        assert tally_records({}) == {}
    assert jobs == []


def test_a_tables_records_are_applied_in_as_many_tasks_as_their_count_needs(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    spread = spark.range(0, 10, numPartitions=8)  # a small table's records over the batch
    assert compact(spread, 10).rdd.getNumPartitions() == 1
    monkeypatch.setattr(sizing, "ROWS_PER_TASK", 4)
    assert compact(spread, 10).rdd.getNumPartitions() == 3
    assert compact(spread, 1_000).rdd.getNumPartitions() == 8  # never more than it has
    assert sorted(r["id"] for r in compact(spread, 10).collect()) == list(range(10))
    assert compact(spread, 0).rdd.getNumPartitions() == 1

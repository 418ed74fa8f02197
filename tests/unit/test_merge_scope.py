"""The partition conditions of a MERGE's scope (sinks/merge_scope.py), written as SQL text:
they must select exactly the rows of the listed partitions, whatever the values' types."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from sinks.merge_scope import in_partitions, in_partitions_pushed

PARTS = StructType(
    [
        StructField("region", StringType()),
        StructField("day", DateType()),
        StructField("n", LongType()),
        StructField("flag", BooleanType()),
        StructField("amount", DecimalType(12, 2)),
        StructField("at", TimestampType()),
        StructField("local", TimestampNTZType()),
        StructField("ratio", DoubleType()),
    ]
)
ROWS: list[tuple[Any, ...]] = [
    (
        "it's",
        date(2026, 12, 1),
        1,
        True,
        Decimal("10.50"),
        datetime(2026, 12, 1, 8, 30),
        datetime(2026, 1, 1, 0, 0, 0, 5),
        0.1,
    ),
    (
        "back\\slash",
        date(2026, 12, 2),
        2**40,
        False,
        Decimal("-0.01"),
        datetime(2026, 12, 1, 8, 30, 0, 1),
        datetime(2026, 1, 1),
        2.5,
    ),
    (
        "Zürich «ü» \n",
        date(1, 1, 1),
        -3,
        True,
        Decimal("99999999.99"),
        datetime(1970, 1, 1),
        datetime(1999, 12, 31, 23, 59, 59),
        -1e300,
    ),
    (None, None, None, None, None, None, None, None),
    (
        "it's",
        date(2026, 12, 1),
        1,
        True,
        Decimal("10.50"),
        datetime(2026, 12, 1, 8, 30),
        datetime(2026, 1, 1, 0, 0, 0, 6),
        0.1,
    ),
    (
        "",
        date(2026, 12, 1),
        0,
        False,
        Decimal("0"),
        datetime(2026, 12, 1, 8, 30),
        datetime(2026, 1, 1),
        0.0,
    ),
]


@pytest.fixture(scope="module")
def table(spark: SparkSession) -> DataFrame:
    schema = StructType([StructField("id", IntegerType()), *PARTS.fields])
    return spark.createDataFrame([(i, *r) for i, r in enumerate(ROWS)], schema)


def listed_as_spark_gives_them(table: DataFrame, ids: list[int]) -> list[tuple[Any, ...]]:
    """The partition values of some rows, as a collect gives them to the driver (which is
    where an engine's list of partitions comes from)."""
    rows = table.where(table["id"].isin(ids)).select(*PARTS.fieldNames()).collect()
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("condition", [in_partitions, in_partitions_pushed])
def test_a_partition_list_selects_exactly_the_rows_of_its_partitions_of_every_type(
    table: DataFrame, condition: Any
) -> None:
    # Row 4 differs from row 0 only by a microsecond of a timestamp; row 5 only by values
    # that are empty or zero.
    listed = listed_as_spark_gives_them(table, [0, 1, 2, 3])
    selected = table.alias("t").where(condition(PARTS, listed))
    assert sorted(r["id"] for r in selected.collect()) == [0, 1, 2, 3]


@pytest.mark.parametrize("condition", [in_partitions, in_partitions_pushed])
def test_an_empty_partition_list_selects_nothing(table: DataFrame, condition: Any) -> None:
    assert table.alias("t").where(condition(PARTS, [])).count() == 0


@pytest.mark.parametrize("condition", [in_partitions, in_partitions_pushed])
def test_a_long_partition_list_of_bare_columns_is_one_condition(
    spark: SparkSession, condition: Any
) -> None:
    """3,000 partitions (a 100,000-change batch touches about 2,000): the struct IN list and
    the grouped IN lists both analyse and run (as 3,000 nested ORs, the second took 15 s
    to parse and ran a 1 GB heap out of memory)."""
    days = StructType([StructField("y", IntegerType()), StructField("d", IntegerType())])
    frame = spark.range(6000).selectExpr("CAST(id % 7 AS INT) AS y", "CAST(id AS INT) AS d")
    listed = [(d % 7, d) for d in range(0, 6000, 2)]
    assert frame.where(condition(days, listed, None)).count() == 3000


@pytest.mark.parametrize("condition", [in_partitions, in_partitions_pushed])
def test_partitions_sharing_leading_values_and_nulls_select_exactly_theirs(
    spark: SparkSession, condition: Any
) -> None:
    """Grouped by their leading values, with NULL among both the leading and the last
    values: every listed partition's rows, no other."""
    parts = StructType([StructField("y", IntegerType()), StructField("d", IntegerType())])
    cells = [(y, d) for y in (1, 2, None) for d in (5, 6, None)]
    frame = spark.createDataFrame([(i, *c) for i, c in enumerate(cells)], "id int, y int, d int")
    listed = [(1, 5), (1, None), (None, 6), (None, None), (2, 6)]

    selected = frame.where(condition(parts, listed, None)).collect()

    assert sorted(((r["y"], r["d"]) for r in selected), key=str) == sorted(listed, key=str)

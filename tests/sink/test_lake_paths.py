"""Partition folder names computed in Python are the ones Spark itself writes."""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession

from sinks.lake.files import partition_path

_SAMPLES = [
    None,
    "",
    "2020",
    "a b",
    "x=y/z",
    "50%",
    "C:\\dir",
    "naïve 東京 😀",
    "{[^]}",
    "tab\there",
    "__HIVE_DEFAULT_PARTITION__",
]


def _spark_path(spark: SparkSession, name: str, value: str | None) -> str:
    jvm: Any = spark.sparkContext._jvm
    utils = jvm.org.apache.spark.sql.catalyst.catalog.ExternalCatalogUtils
    return str(utils.getPartitionPathString(name, value))


def test_every_character_is_escaped_exactly_as_spark_escapes_it(spark: SparkSession) -> None:
    text = "".join(chr(c) for c in range(1, 300))
    assert partition_path(["v"], [text]) == _spark_path(spark, "v", text)


def test_nulls_empty_values_and_odd_names_match_spark(spark: SparkSession) -> None:
    for value in _SAMPLES:
        for name in ("day", "a:b", "Größe"):
            assert partition_path([name], [value]) == _spark_path(spark, name, value), value


def test_levels_are_joined_in_order_and_values_taken_as_text() -> None:
    path = partition_path(["year", "month", "day"], [2020, "5", None])
    assert path == "year=2020/month=5/day=__HIVE_DEFAULT_PARTITION__"
    assert partition_path([], []) == ""

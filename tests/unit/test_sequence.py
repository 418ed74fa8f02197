"""encode_sequence: `_seq` strings must compare (bytewise) exactly like the sequence values."""

from collections.abc import Sequence
from itertools import combinations
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from transforms.sequence import SequenceTypeError, encode_sequence


def _sign(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


def _assert_orders_like(
    spark: SparkSession,
    values: Sequence[tuple[Any, ...]],
    schema: str,
    expressions: Sequence[str],
) -> None:
    """`_seq` of every pair compares like the pair's Python values (ties included)."""
    df = spark.createDataFrame([(i, *v) for i, v in enumerate(values)], f"i int, {schema}")
    encoded = {
        row["i"]: row["_seq"]
        for row in df.transform(encode_sequence(expressions)).select("i", "_seq").collect()
    }
    assert all(seq is not None for seq in encoded.values())
    for (i, a), (j, b) in combinations(enumerate(values), 2):
        assert _sign(encoded[i], encoded[j]) == _sign(a, b), (a, b, encoded[i], encoded[j])


def test_timestamps_encode_in_time_order_to_the_microsecond(spark: SparkSession) -> None:
    # Fixed-width ISO text sorts like the instants it names (session time zone is UTC).
    texts = [
        "2021-08-16 06:05:01.000001",
        "1969-12-31 23:59:59.999999",
        "2021-08-16 06:05:01.000000",
        "2021-08-16 06:05:01.100000",
        "2021-08-16 06:05:01.000010",
        "1999-12-31 23:59:59.999999",
        "2000-01-01 00:00:00.000000",
        "2021-08-16 06:05:01.000010",
        "2021-08-16 18:05:01.000000",
        "0001-01-01 00:00:00.000000",
        "9999-12-31 23:59:59.999999",
    ]
    _assert_orders_like(spark, [(t,) for t in texts], "t string", ["to_timestamp(t)"])


def test_dates_encode_in_calendar_order(spark: SparkSession) -> None:
    texts = ["2021-08-16", "2021-08-09", "1969-12-31", "2021-10-01", "2021-08-16", "0999-01-01"]
    _assert_orders_like(spark, [(t,) for t in texts], "d string", ["to_date(d)"])


def test_negative_and_positive_bigints_encode_in_numeric_order(spark: SparkSession) -> None:
    numbers = [
        -1,
        -(2**63),
        10,
        2**63 - 1,
        0,
        -2,
        9,
        -(2**63) + 1,
        -10,
        1,
        10**12,
        -(10**12),
        10,
    ]
    _assert_orders_like(spark, [(n,) for n in numbers], "n bigint", ["n"])


def test_ints_smallints_and_tinyints_encode_in_numeric_order(spark: SparkSession) -> None:
    ints = [-1, -(2**31), 2**31 - 1, 0, 10, 9, -10]
    small = [-1, -128, 127, 0, 10, 9, -10]
    _assert_orders_like(spark, [(n,) for n in ints], "v int", ["v"])
    _assert_orders_like(spark, [(n,) for n in small], "v int", ["cast(v as smallint)"])
    _assert_orders_like(spark, [(n,) for n in small], "v int", ["cast(v as tinyint)"])


def test_strings_encode_as_themselves(spark: SparkSession) -> None:
    texts = ["b", "a", "ab", "B", "", "é", "a b", "a\tb", "z" * 40]
    df = spark.createDataFrame([(t,) for t in texts], "s string")

    encoded = df.transform(encode_sequence(["s"])).select("s", "_seq")

    expected = spark.createDataFrame([(t, t) for t in texts], "s string, _seq string")
    assert_df_equality(encoded, expected, ignore_row_order=True, ignore_nullable=True)


def test_multi_column_sequence_encodes_in_tuple_order(spark: SparkSession) -> None:
    values = [
        ("2021-01-01 00:00:00.000000", 5, "b"),
        ("2021-01-01 00:00:00.000000", 10, "a"),
        ("2021-01-01 00:00:00.000000", -1, "zz"),
        ("2021-01-02 00:00:00.000000", -(2**63), ""),
        ("2020-12-31 23:59:59.999999", 2**63 - 1, "z"),
        ("2021-01-01 00:00:00.000000", 5, "ab"),
        ("2021-01-01 00:00:00.000000", 5, "a"),
        ("2021-01-01 00:00:00.000000", 5, "b"),
    ]
    _assert_orders_like(
        spark, values, "t string, n bigint, s string", ["to_timestamp(t)", "n", "s"]
    )


def test_multi_string_sequence_compares_field_by_field(spark: SparkSession) -> None:
    # ("a", "z") < ("ab", "a"): a plain concatenation "az" > "aba" would get this wrong.
    values = [("a", "z"), ("ab", "a"), ("a", ""), ("", "zz"), ("a", "z ")]
    _assert_orders_like(spark, values, "s1 string, s2 string", ["s1", "s2"])


def test_all_null_values_give_null_seq_and_a_partial_tuple_does_not(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [(1, None, None), (2, None, 7), (3, "2021-08-16 00:00:00", None)],
        "i int, t string, n bigint",
    )

    encoded = df.transform(encode_sequence(["to_timestamp(t)", "n"]))

    nulls = {row["i"]: row["_seq"] is None for row in encoded.select("i", "_seq").collect()}
    assert nulls == {1: True, 2: False, 3: False}


def test_unparseable_value_gives_null_seq(spark: SparkSession) -> None:
    df = spark.createDataFrame([("not a time",)], "t string")

    encoded = df.transform(encode_sequence(["to_timestamp(t)"]))

    expected = spark.createDataFrame([("not a time", None)], "t string, _seq string")
    assert_df_equality(encoded, expected, ignore_nullable=True)


def test_no_sequence_expressions_give_empty_seq(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1,), (2,)], "i int")

    encoded = df.transform(encode_sequence([]))

    expected = spark.createDataFrame([(1, ""), (2, "")], "i int, _seq string")
    assert_df_equality(encoded, expected, ignore_row_order=True, ignore_nullable=True)


def test_sequence_keeps_input_columns_and_drops_its_temporaries(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, 2)], "a int, b bigint")

    encoded = df.transform(encode_sequence(["a", "b + 1"]))

    assert encoded.columns == ["a", "b", "_seq"]


@pytest.mark.parametrize(
    "expression", ["cast(n as double)", "cast(n as decimal(10,2))", "cast(n as float)", "n > 0"]
)
def test_expression_without_order_preserving_encoding_raises(
    spark: SparkSession, expression: str
) -> None:
    df = spark.createDataFrame([(1,)], "n int")

    with pytest.raises(SequenceTypeError, match="sequence_by: type"):
        df.transform(encode_sequence([expression]))

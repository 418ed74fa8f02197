"""coerce_types: cast string fields to declared types; every failure explained in `_error`."""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from config import ColumnSpec
from transforms.coerce import coerce_types

SPECS = [
    ColumnSpec(name="id", type="string"),
    ColumnSpec(name="cases", type="int"),
    ColumnSpec(name="amount", type="decimal(10,2)"),
    ColumnSpec(name="day", type="date"),
    ColumnSpec(name="name", type="string"),
]
KEYS = ["id"]
DECODED = (
    "_op string, id string, cases string, amount string, day string, name string, "
    "_pos string, _error string"
)
TYPED = (
    "_op string, id string, cases int, amount decimal(10,2), day date, name string, "
    "_pos string, _error string"
)

Record = tuple[Any, ...]


def _coerce(spark: SparkSession, records: Sequence[Record]) -> DataFrame:
    return spark.createDataFrame(list(records), DECODED).transform(coerce_types(SPECS, KEYS))


def _errors(typed: DataFrame) -> DataFrame:
    return typed.select("_pos", "_error")


def _expected_errors(spark: SparkSession, rows: Sequence[tuple[str, str | None]]) -> DataFrame:
    return spark.createDataFrame(list(rows), "_pos string, _error string")


def test_valid_strings_are_cast_to_declared_types(spark: SparkSession) -> None:
    typed = _coerce(
        spark,
        [
            ("I", "k1", "42", "12.50", "2021-08-16", "x", "p1", None),
            ("U", "k2", "-7", "0", "2020-02-29", None, "p2", None),
        ],
    )

    expected = spark.createDataFrame(
        [
            ("I", "k1", 42, Decimal("12.50"), date(2021, 8, 16), "x", "p1", None),
            ("U", "k2", -7, Decimal("0.00"), date(2020, 2, 29), None, "p2", None),
        ],
        TYPED,
    )
    assert_df_equality(typed, expected, ignore_row_order=True, ignore_nullable=True)


def test_null_field_is_not_a_cast_failure(spark: SparkSession) -> None:
    typed = _coerce(spark, [("U", "k1", None, None, None, None, "p1", None)])

    assert_df_equality(
        _errors(typed), _expected_errors(spark, [("p1", None)]), ignore_nullable=True
    )


def test_text_in_int_column_is_rejected_with_reason(spark: SparkSession) -> None:
    typed = _coerce(spark, [("I", "k1", "abc", "1", "2021-08-16", "x", "p1", None)])

    expected = spark.createDataFrame(
        [
            (
                "I",
                "k1",
                None,
                Decimal("1.00"),
                date(2021, 8, 16),
                "x",
                "p1",
                "column cases: not a valid int",
            )
        ],
        TYPED,
    )
    assert_df_equality(typed, expected, ignore_nullable=True)


def test_every_bad_field_is_reported_joined_by_semicolons(spark: SparkSession) -> None:
    typed = _coerce(spark, [("U", "k1", "abc", "12x", "2021-13-45", "x", "p1", None)])

    reasons = (
        "column cases: not a valid int; column amount: not a valid decimal(10,2); "
        "column day: not a valid date"
    )
    assert_df_equality(
        _errors(typed), _expected_errors(spark, [("p1", reasons)]), ignore_nullable=True
    )


def test_decoder_error_is_the_only_reason_of_an_undecodable_record(spark: SparkSession) -> None:
    typed = _coerce(spark, [(None, "k1", "abc", None, None, None, "p1", "malformed CSV record")])

    expected = [("p1", "malformed CSV record")]
    assert_df_equality(_errors(typed), _expected_errors(spark, expected), ignore_nullable=True)


def test_null_key_on_insert_update_delete_or_load_is_rejected(spark: SparkSession) -> None:
    typed = _coerce(
        spark,
        [
            ("I", None, "1", None, None, None, "p1", None),
            ("U", None, "1", None, None, None, "p2", None),
            ("D", None, None, None, None, None, "p3", None),
            ("L", None, "1", None, None, None, "p4", None),
        ],
    )

    reason = "key column id is null"
    expected = [("p1", reason), ("p2", reason), ("p3", reason), ("p4", reason)]
    assert_df_equality(
        _errors(typed),
        _expected_errors(spark, expected),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_unknown_or_missing_op_is_rejected(spark: SparkSession) -> None:
    typed = _coerce(
        spark,
        [
            ("X", "k1", "1", None, None, None, "p1", None),
            ("truncate", "k2", "1", None, None, None, "p2", None),
            (None, "k3", "1", None, None, None, "p3", None),
        ],
    )

    reason = "unknown operation"
    expected = [("p1", reason), ("p2", reason), ("p3", reason)]
    assert_df_equality(
        _errors(typed),
        _expected_errors(spark, expected),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_control_and_other_table_records_never_get_a_null_key_reason(
    spark: SparkSession,
) -> None:
    typed = _coerce(
        spark,
        [
            ("C", None, None, None, None, None, "p1", None),
            ("T", None, None, None, None, None, "p2", None),
        ],
    )

    expected = [("p1", None), ("p2", None)]
    assert_df_equality(
        _errors(typed),
        _expected_errors(spark, expected),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_string_columns_are_untouched(spark: SparkSession) -> None:
    odd = '  São Tomé, "N/A" ;\t007 '
    typed = _coerce(
        spark,
        [
            ("I", "007", "1", None, None, odd, "p1", None),
            ("I", " k2 ", "1", None, None, "", "p2", None),
        ],
    )

    expected = spark.createDataFrame(
        [("p1", "007", odd, None), ("p2", " k2 ", "", None)],
        "_pos string, id string, name string, _error string",
    )
    assert_df_equality(
        typed.select("_pos", "id", "name", "_error"),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_typed_input_column_is_cast_without_a_reason(spark: SparkSession) -> None:
    decoded = spark.createDataFrame(
        [("I", 1, "p1", None)], "_op string, n int, _pos string, _error string"
    )

    typed = decoded.transform(coerce_types([ColumnSpec(name="n", type="bigint")], ["n"]))

    expected = spark.createDataFrame(
        [("I", 1, "p1", None)], "_op string, n bigint, _pos string, _error string"
    )
    assert_df_equality(typed, expected, ignore_nullable=True)


def test_a_date_or_timestamp_as_text_must_name_year_month_and_day(spark: SparkSession) -> None:
    """Spark alone reads '2021' as 2021-01-01 and '18962' (Debezium's days since 1970, sent
    where DMS text is expected) as the year 18962: both are refused with the reason."""
    specs = [
        ColumnSpec(name="id", type="string"),
        ColumnSpec(name="day", type="date"),
        ColumnSpec(name="at", type="timestamp"),
    ]
    decoded = "_op string, id string, day string, at string, _pos string, _error string"
    rows = [
        ("I", "k1", "2021-08-16", "2021-08-16 10:11:12.123456", "good", None),
        ("I", "k2", " 2021-8-6", "2021-08-16T10:11:12Z", "loose", None),
        ("I", "k3", "18962", "1638316800000000", "numbers", None),
        ("I", "k4", "2021", "10:11:12", "partial", None),
    ]
    typed = spark.createDataFrame(rows, decoded).transform(coerce_types(specs, ["id"]))

    found = {r["_pos"]: (r["day"], r["at"] is not None, r["_error"]) for r in typed.collect()}
    assert found["good"] == (date(2021, 8, 16), True, None)
    assert found["loose"] == (date(2021, 8, 6), True, None)
    both = "column day: not a valid date; column at: not a valid timestamp"
    assert found["numbers"] == (None, False, both)
    assert found["partial"] == (None, False, both)

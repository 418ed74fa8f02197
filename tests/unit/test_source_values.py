"""decode_value at the edges of what MySQL holds: TIME as a signed duration past 24 hours,
and epoch numbers outside years 1-9999 refused per record, never failing the batch."""

import datetime as dt
from collections.abc import Sequence

import pytest
from pyspark.sql import SparkSession

from sources.mysql_state import debezium_text, dms_text
from transforms.types import (
    DatabaseColumn,
    SourceColumn,
    debezium_column,
    decode_value,
    time_text,
)

HOUR = 3_600_000_000
TIMES = {
    0: "00:00:00.000000",
    37_872_500_001: "10:31:12.500001",
    25 * HOUR: "25:00:00.000000",
    -1_000_000: "-00:00:01.000000",
    -(HOUR + 1): "-01:00:00.000001",
    3_020_399_000_000: "838:59:59.000000",  # MySQL's largest TIME
    -3_020_399_000_000: "-838:59:59.000000",
}


def _decoded(spark: SparkSession, column: SourceColumn, texts: Sequence[str]) -> list[object]:
    frame = spark.createDataFrame([(t,) for t in texts], f"`{column.name}` string")
    return [r[0] for r in frame.select(decode_value(column.name, column)).collect()]


@pytest.mark.parametrize(("micros", "text"), TIMES.items())
def test_time_text_writes_a_signed_duration(micros: int, text: str) -> None:
    assert time_text(micros) == text


def test_a_time_decodes_as_mysql_writes_it_past_a_day_and_below_zero(
    spark: SparkSession,
) -> None:
    column = SourceColumn("t", "string", "micros_of_day")
    over = 3_020_399_000_001  # past 838:59:59: no TIME
    decoded = _decoded(spark, column, [str(m) for m in TIMES] + [str(over), "1.5", "x"])

    assert decoded == [*TIMES.values(), None, None, None]


YEAR_10000_MICROS = 253_402_300_800_000_000
EXTREMES = ["9223372036854775807", "-9223372036854775808"]


@pytest.mark.parametrize(
    ("column", "good", "expected", "beyond"),
    [
        (SourceColumn("v", "timestamp", "epoch_millis"), "1629108672500",
         dt.datetime(2021, 8, 16, 10, 11, 12, 500000), str(YEAR_10000_MICROS // 1000)),
        (SourceColumn("v", "timestamp", "epoch_micros"), "1629108672500001",
         dt.datetime(2021, 8, 16, 10, 11, 12, 500001), str(YEAR_10000_MICROS)),
        (SourceColumn("v", "date", "epoch_days"), "18855", dt.date(2021, 8, 16), "2932897"),
    ],
)  # fmt: skip
def test_an_epoch_number_outside_years_1_to_9999_is_refused_not_a_failed_batch(
    spark: SparkSession, column: SourceColumn, good: str, expected: object, beyond: str
) -> None:
    """Spark's millisecond conversion overflows on 9223372036854775807 and fails the whole
    batch; the other encodings give years no DATETIME or DATE can hold."""
    decoded = _decoded(spark, column, [good, beyond, *EXTREMES])

    assert decoded == [expected, None, None, None]


def test_the_verifier_encodes_a_negative_time_as_each_transport_does() -> None:
    """jobs/verify.py runs the job's decoding over MySQL's rows encoded as the transport
    would: PyMySQL gives a TIME as a timedelta, negative ones included."""
    minus_one_second = dt.timedelta(seconds=-1)
    long_day = dt.timedelta(hours=25, microseconds=7)

    assert debezium_text(minus_one_second, "time", 6) == "-1000000"
    assert dms_text(minus_one_second, "time", 6) == "-00:00:01.000000"
    assert debezium_text(long_day, "time", 6) == str(25 * HOUR + 7)
    assert dms_text(long_day, "time", 6) == "25:00:00.000007"


def test_a_time_column_whose_name_needs_quotes_decodes(spark: SparkSession) -> None:
    column = SourceColumn("time of day", "string", "micros_of_day")
    assert _decoded(spark, column, ["1"]) == ["00:00:00.000001"]


def test_a_bigint_unsigned_past_2_63_comes_back_from_debeziums_wrapped_long(
    spark: SparkSession,
) -> None:
    """Debezium's default `bigint.unsigned.handling.mode=long` sends 2^64 - 1 as -1; the
    catalog says the column is unsigned, so the job adds 2^64 back. A value no BIGINT
    UNSIGNED holds, or not a whole number, is refused."""
    column = debezium_column(DatabaseColumn("id", "bigint", "bigint(20) unsigned"))
    assert column == SourceColumn("id", "decimal(20,0)", "unsigned_long")
    assert debezium_column(DatabaseColumn("id", "bigint", "bigint(20)")).encoding == "text"

    texts = ["42", "9223372036854775807", "-9223372036854775808", "-1", "18446744073709551615"]
    wrong = ["18446744073709551616", "-9223372036854775809", "1.5", "x"]
    decoded = _decoded(spark, column, texts + wrong)

    assert [str(v) for v in decoded[: len(texts)]] == [
        "42",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551615",
    ]
    assert decoded[len(texts) :] == [None] * len(wrong)

"""decode_dms_csv: DMS S3-target CSV lines -> `_op` + string fields + bookkeeping."""

from collections.abc import Sequence

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from transforms.dms_csv import decode_dms_csv

COLUMNS = ["id", "name", "n"]
LOAD1 = "/x/public/cases/LOAD00000001.csv"
LOAD2 = "/x/public/cases/LOAD00000002.csv"
CDC1 = "/x/public/cases/20210816-060501123.csv"
CDC2 = "/x/public/cases/20210817-000000001.csv"
RAW = "value string, _file string, _block long"
DECODED = "_op string, id string, name string, n string, _error string"
MALFORMED = "malformed CSV record: expected 4 fields (Op + columns)"

Line = tuple[str, str, int]


def _decode(
    spark: SparkSession,
    lines: Sequence[Line],
    *,
    delimiter: str = ",",
    null_value: str = "",
    full_load_has_op: bool = False,
) -> DataFrame:
    return spark.createDataFrame(list(lines), RAW).transform(
        decode_dms_csv(
            COLUMNS,
            delimiter=delimiter,
            null_value=null_value,
            full_load_has_op=full_load_has_op,
        )
    )


def _fields(decoded: DataFrame) -> DataFrame:
    return decoded.select("_op", *COLUMNS, "_error")


def test_decoded_columns_are_op_then_fields_then_bookkeeping(spark: SparkSession) -> None:
    decoded = _decode(spark, [("I,1,x,3", CDC1, 0)])

    assert decoded.columns == [
        "_op",
        *COLUMNS,
        "_commit_ts",
        "_pos",
        "_raw",
        "_source_file",
        "_error",
    ]
    assert decoded.schema["_commit_ts"].dataType.simpleString() == "timestamp"


def test_cdc_line_keeps_its_op_and_fields(spark: SparkSession) -> None:
    decoded = _decode(spark, [("I,1,x,3", CDC1, 0), ("U,2,y,4", CDC1, 0), ("D,3,,", CDC1, 0)])

    expected = spark.createDataFrame(
        [("I", "1", "x", "3", None), ("U", "2", "y", "4", None), ("D", "3", None, None, None)],
        DECODED,
    )
    assert_df_equality(_fields(decoded), expected, ignore_row_order=True, ignore_nullable=True)


def test_full_load_line_without_op_decodes_as_load(spark: SparkSession) -> None:
    decoded = _decode(spark, [("1,x,3", LOAD1, 0), ("I,2,y,4", CDC1, 0)])

    expected = spark.createDataFrame(
        [("L", "1", "x", "3", None), ("I", "2", "y", "4", None)], DECODED
    )
    assert_df_equality(_fields(decoded), expected, ignore_row_order=True, ignore_nullable=True)


def test_full_load_line_with_op_keeps_it_when_full_load_has_op(spark: SparkSession) -> None:
    decoded = _decode(spark, [("I,1,x,3", LOAD1, 0)], full_load_has_op=True)

    expected = spark.createDataFrame([("I", "1", "x", "3", None)], DECODED)
    assert_df_equality(_fields(decoded), expected, ignore_nullable=True)


def test_full_load_line_with_op_is_malformed_unless_full_load_has_op(
    spark: SparkSession,
) -> None:
    decoded = _decode(spark, [("I,1,x,3", LOAD1, 0)])

    expected = spark.createDataFrame([("I,1,x,3", MALFORMED)], "_raw string, _error string")
    assert_df_equality(decoded.select("_raw", "_error"), expected, ignore_nullable=True)


def test_quoted_field_keeps_its_comma(spark: SparkSession) -> None:
    decoded = _decode(spark, [('I,1,"US, Arizona",3', CDC1, 0), ('2,"a,b,c",4', LOAD1, 0)])

    expected = spark.createDataFrame(
        [("I", "1", "US, Arizona", "3", None), ("L", "2", "a,b,c", "4", None)], DECODED
    )
    assert_df_equality(_fields(decoded), expected, ignore_row_order=True, ignore_nullable=True)


def test_doubled_quotes_inside_quoted_field_decode_to_one_quote(spark: SparkSession) -> None:
    decoded = _decode(spark, [('I,1,"a ""b""",3', CDC1, 0), ('U,2,"""",4', CDC1, 0)])

    expected = spark.createDataFrame(
        [("I", "1", 'a "b"', "3", None), ("U", "2", '"', "4", None)], DECODED
    )
    assert_df_equality(_fields(decoded), expected, ignore_row_order=True, ignore_nullable=True)


def test_a_value_broken_over_two_lines_quarantines_both_halves(spark: SparkSession) -> None:
    """Spark reads a quoted field that its line does not close as ending at the line's
    end: the first half of `"first line<newline>second line"` would be applied cut short.
    An odd count of quotes marks both halves malformed; doubled quotes stay well formed."""
    decoded = _decode(
        spark,
        [
            ('I,1,7,"first line', CDC1, 0),
            ('second line"', CDC1, 12),
            ('I,2,"unclosed,3', CDC1, 30),
            ('I,3,"a ""b"" c",4', CDC1, 50),
        ],
    )

    errors = {r["_raw"]: r["_error"] for r in decoded.collect()}
    assert errors['I,1,7,"first line'] == errors['second line"'] == errors['I,2,"unclosed,3']
    assert "a quoted field is not closed" in str(errors['I,1,7,"first line'])
    assert errors['I,3,"a ""b"" c",4'] is None


def test_wrong_field_count_is_reported_as_malformed(spark: SparkSession) -> None:
    decoded = _decode(
        spark,
        [("U,2,x", CDC1, 0), ("U,2,x,4,5", CDC1, 0), ("1,x", LOAD1, 0), ("I,1,x,3", CDC1, 0)],
    )

    expected = spark.createDataFrame(
        [("U,2,x", MALFORMED), ("U,2,x,4,5", MALFORMED), ("1,x", MALFORMED), ("I,1,x,3", None)],
        "_raw string, _error string",
    )
    assert_df_equality(
        decoded.select("_raw", "_error"), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_empty_line_is_reported_as_empty_record(spark: SparkSession) -> None:
    decoded = _decode(spark, [("", CDC1, 0), ("   ", CDC1, 0), ("", LOAD1, 0)])

    expected = spark.createDataFrame(
        [("", "empty record"), ("   ", "empty record"), ("", "empty record")],
        "_raw string, _error string",
    )
    assert_df_equality(
        decoded.select("_raw", "_error"), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_custom_delimiter_and_null_value_are_honoured(spark: SparkSession) -> None:
    decoded = _decode(spark, [("I|1|NULL|a,b", CDC1, 0)], delimiter="|", null_value="NULL")

    expected = spark.createDataFrame([("I", "1", None, "a,b", None)], DECODED)
    assert_df_equality(_fields(decoded), expected, ignore_nullable=True)


def test_pos_orders_full_load_before_cdc_then_file_name_then_block_then_row(
    spark: SparkSession,
) -> None:
    # Input order is deliberately not arrival order; "2..." < "L..." by name alone,
    # so only the full-load phase puts LOAD files first.
    lines: list[Line] = [
        ("I,cdc2-row1,x,1", CDC2, 0),
        ("I,cdc1-block1-row1,x,1", CDC1, 1),
        ("I,cdc1-block0-row1,x,1", CDC1, 0),
        ("I,cdc1-block0-row2,x,1", CDC1, 0),
        ("load2-row1,x,1", LOAD2, 0),
        ("load1-row1,x,1", LOAD1, 0),
        ("load1-row2,x,1", LOAD1, 0),
    ]
    decoded = _decode(spark, lines).orderBy("_pos").select("id")

    expected = spark.createDataFrame(
        [
            ("load1-row1",),
            ("load1-row2",),
            ("load2-row1",),
            ("cdc1-block0-row1",),
            ("cdc1-block0-row2",),
            ("cdc1-block1-row1",),
            ("cdc2-row1",),
        ],
        "id string",
    )
    assert_df_equality(decoded, expected, ignore_nullable=True)


def test_raw_line_and_source_file_are_kept(spark: SparkSession) -> None:
    decoded = _decode(spark, [('I,1,"a ""b""",3', CDC1, 0), ("1,x", LOAD1, 0), ("", CDC2, 0)])

    expected = spark.createDataFrame(
        [('I,1,"a ""b""",3', CDC1), ("1,x", LOAD1), ("", CDC2)],
        "_raw string, _source_file string",
    )
    assert_df_equality(
        decoded.select("_raw", "_source_file"),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )

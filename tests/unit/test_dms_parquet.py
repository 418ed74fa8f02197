"""decode_dms_parquet: typed DMS Parquet rows -> `_op` + the declared columns + bookkeeping."""

import json

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from transforms.dms_parquet import decode_dms_parquet

LOAD = "/x/public/cases/LOAD00000001.parquet"
CDC = "/x/public/cases/20210816-060501123.parquet"
RAW = "Op string, id int, name string, _file string, _block long"


def test_null_op_in_full_load_file_decodes_as_load(spark: SparkSession) -> None:
    raw = spark.createDataFrame([(None, 1, "a", LOAD, 0)], RAW)

    decoded = raw.transform(decode_dms_parquet(["id", "name"]))

    expected = spark.createDataFrame(
        [("L", 1, "a", None)], "_op string, id int, name string, _error string"
    )
    assert_df_equality(
        decoded.select("_op", "id", "name", "_error"), expected, ignore_nullable=True
    )


def test_op_is_kept_when_present_and_null_outside_full_load(spark: SparkSession) -> None:
    raw = spark.createDataFrame(
        [
            ("I", 1, "a", LOAD, 0),
            ("U", 2, "b", CDC, 0),
            ("D", 3, None, CDC, 0),
            (None, 4, "d", CDC, 0),
        ],
        RAW,
    )

    decoded = raw.transform(decode_dms_parquet(["id", "name"]))

    expected = spark.createDataFrame(
        [("I", 1), ("U", 2), ("D", 3), (None, 4)], "_op string, id int"
    )
    assert_df_equality(
        decoded.select("_op", "id"), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_custom_op_column_name_is_read(spark: SparkSession) -> None:
    raw = spark.createDataFrame(
        [("U", 2, CDC, 0), (None, 1, LOAD, 0)], "op string, id int, _file string, _block long"
    )

    decoded = raw.transform(decode_dms_parquet(["id"], op_column="op"))

    expected = spark.createDataFrame([("U", 2), ("L", 1)], "_op string, id int")
    assert_df_equality(
        decoded.select("_op", "id"), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_declared_columns_keep_their_parquet_type(spark: SparkSession) -> None:
    raw = spark.createDataFrame([("I", 1, "a", CDC, 0)], RAW)

    decoded = raw.transform(decode_dms_parquet(["id", "name"]))

    assert decoded.columns == [
        "_op",
        "id",
        "name",
        "_commit_ts",
        "_pos",
        "_raw",
        "_source_file",
        "_error",
    ]
    assert decoded.schema["id"].dataType.simpleString() == "int"


def test_raw_is_the_record_as_json_and_source_file_is_kept(spark: SparkSession) -> None:
    raw = spark.createDataFrame([("U", 2, 'say "hi"', CDC, 0), (None, 1, "a", LOAD, 0)], RAW)

    decoded = raw.transform(decode_dms_parquet(["id", "name"]))

    rows = decoded.select("id", "_raw", "_source_file").collect()
    by_id = {row["id"]: row for row in rows}
    assert json.loads(by_id[2]["_raw"]) == {"Op": "U", "id": 2, "name": 'say "hi"'}
    assert json.loads(by_id[1]["_raw"]) == {"id": 1, "name": "a"}
    assert by_id[2]["_source_file"] == CDC
    assert by_id[1]["_source_file"] == LOAD

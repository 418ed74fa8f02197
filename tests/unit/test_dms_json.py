"""decode_dms_json: DMS Kinesis-format JSON records -> `_op` + string fields + bookkeeping."""

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from transforms.dms_json import decode_dms_json
from transforms.types import SourceColumn

COLUMNS = ["id", "name", "n"]
FILE = "/x/kinesis/shard-0001.json"
RAW = "value string, _file string, _block long"
TIMESTAMP = "2021-08-16T06:05:01.123456Z"


def _record(
    operation: str,
    data: Mapping[str, Any] | None = None,
    *,
    record_type: str = "data",
    schema: str = "public",
    table: str = "cases",
    timestamp: str = TIMESTAMP,
) -> str:
    record: dict[str, Any] = {
        "metadata": {
            "timestamp": timestamp,
            "record-type": record_type,
            "operation": operation,
            "partition-key-type": "schema-table",
            "schema-name": schema,
            "table-name": table,
            "transaction-id": 8589934592,
        }
    }
    if data is not None:
        record["data"] = dict(data)
    return json.dumps(record)


def _decode(spark: SparkSession, values: Sequence[str]) -> DataFrame:
    raw = spark.createDataFrame([(v, FILE, 0) for v in values], RAW)
    return raw.transform(decode_dms_json(COLUMNS, schema_name="public", table_name="cases"))


def test_dms_operations_map_to_load_insert_update_delete(spark: SparkSession) -> None:
    decoded = _decode(
        spark,
        [
            _record("load", {"id": "1"}),
            _record("insert", {"id": "2"}),
            _record("update", {"id": "3"}),
            _record("delete", {"id": "4"}),
            _record("INSERT", {"id": "5"}),
        ],
    )

    expected = spark.createDataFrame(
        [("L", "1", None), ("I", "2", None), ("U", "3", None), ("D", "4", None), ("I", "5", None)],
        "_op string, id string, _error string",
    )
    assert_df_equality(
        decoded.select("_op", "id", "_error"),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_control_records_are_skipped_and_our_table_alterations_marked_ddl(
    spark: SparkSession,
) -> None:
    decoded = _decode(
        spark,
        [
            _record("create-table", record_type="control"),
            _record("add-column", record_type="ddl"),
            _record("drop-table", record_type="control", table="other"),
        ],
    )

    expected = spark.createDataFrame(
        [("C", None), ("A", None), ("C", None)], "_op string, _error string"
    )
    assert_df_equality(decoded.select("_op", "_error"), expected, ignore_nullable=True)


def test_record_of_another_table_is_marked_other_table(spark: SparkSession) -> None:
    decoded = _decode(
        spark,
        [
            _record("insert", {"id": "1"}, table="ticket"),
            _record("update", {"id": "2"}, schema="sales"),
            _record("insert", None, table="ticket"),
        ],
    )

    expected = spark.createDataFrame(
        [("T", None), ("T", None), ("T", None)], "_op string, _error string"
    )
    assert_df_equality(decoded.select("_op", "_error"), expected, ignore_nullable=True)


def test_undecodable_records_are_reported_with_reason(spark: SparkSession) -> None:
    no_metadata = json.dumps({"data": {"id": "1"}})
    no_data = _record("insert", None)
    decoded = _decode(spark, ["{not json", "", no_metadata, no_data])

    expected = spark.createDataFrame(
        [
            ("{not json", "malformed JSON record"),
            ("", "empty record"),
            (no_metadata, "DMS record without metadata"),
            (no_data, "DMS data record without data"),
        ],
        "_raw string, _error string",
    )
    assert_df_equality(
        decoded.select("_raw", "_error"), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_numbers_and_booleans_in_data_arrive_as_their_text(spark: SparkSession) -> None:
    decoded = _decode(
        spark,
        [
            _record("insert", {"id": 42, "name": True, "n": -7}),
            _record("insert", {"id": 9007199254740993, "name": "x", "n": 1.5}),
        ],
    )

    expected = spark.createDataFrame(
        [("42", "true", "-7"), ("9007199254740993", "x", "1.5")],
        "id string, name string, n string",
    )
    assert_df_equality(
        decoded.select(*COLUMNS), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_high_precision_decimal_number_keeps_all_its_digits(spark: SparkSession) -> None:
    """Read as text, a JSON number passes through a double (~17 digits); a decimal column
    is read with its own type, so a money column keeps every digit."""
    record = (
        '{"data": {"id": "1", "n": 12345678901234567.891}, '
        '"metadata": {"record-type": "data", "operation": "insert", '
        '"schema-name": "public", "table-name": "cases"}}'
    )
    raw = spark.createDataFrame([(record, FILE, 0)], RAW)
    columns = [SourceColumn("id", "string"), SourceColumn("n", "decimal(20,3)")]

    decoded = raw.transform(decode_dms_json(columns, schema_name="public", table_name="cases"))

    assert [r["n"] for r in decoded.collect()] == [Decimal("12345678901234567.891")]


def test_commit_ts_is_parsed_from_metadata_timestamp(spark: SparkSession) -> None:
    decoded = _decode(
        spark,
        [
            _record("insert", {"id": "1"}),
            _record("insert", {"id": "2"}, timestamp="2021-08-16T23:59:59Z"),
        ],
    )

    def micros(moment: datetime) -> int:
        return int(moment.timestamp()) * 1_000_000 + moment.microsecond

    expected = spark.createDataFrame(
        [
            ("1", micros(datetime(2021, 8, 16, 6, 5, 1, 123456, tzinfo=UTC))),
            ("2", micros(datetime(2021, 8, 16, 23, 59, 59, tzinfo=UTC))),
        ],
        "id string, commit_micros long",
    )
    actual = decoded.select("id", F.unix_micros("_commit_ts").alias("commit_micros"))
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_raw_record_and_source_file_are_kept(spark: SparkSession) -> None:
    record = _record("insert", {"id": "1"})
    decoded = _decode(spark, [record])

    expected = spark.createDataFrame([(record, FILE)], "_raw string, _source_file string")
    assert_df_equality(decoded.select("_raw", "_source_file"), expected, ignore_nullable=True)

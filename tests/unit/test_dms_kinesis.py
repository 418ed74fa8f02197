"""DMS records as DMS writes them to Kinesis, one fixture per endpoint/task setting.

The fixtures in tests/fixtures/dms_kinesis/ follow AWS's documented message format:
metadata keys of IncludeTransactionDetails, IncludePartitionValue, control records of
IncludeControlDetails and IncludeTableAlterOperations, BeforeImageSettings'
`before-image`, and both MessageFormat JSON (pretty, with tabs) and JSON_UNFORMATTED.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from config import AwsConfig, KinesisSource
from sources.kinesis import kinesis_options, kinesis_position
from transforms.dms_json import decode_dms_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dms_kinesis"
COLUMNS = ["id", "name", "email"]


def _decode(
    spark: SparkSession,
    fixture: str,
    sequence: str = "49590338271490256608559692538361571095921575989136588898",
) -> list[Row]:
    text = (FIXTURES / fixture).read_text()
    raw = spark.createDataFrame(
        [(text, "kinesis:cdc/sports.customer", sequence)], "value string, _file string, seq string"
    )
    decoded = raw.transform(
        decode_dms_json(
            COLUMNS,
            schema_name="sports",
            table_name="customer",
            keys=["id"],
            position=kinesis_position(F.col("seq")),
        )
    )
    return decoded.select("_op", "id", "name", "_commit_ts", "_error").orderBy("_pos").collect()


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("full_load.json", [("L", "1", "Ann", "2026-11-24T09:59:00+00:00")]),
        ("insert_transaction_details.json", [("I", "2", "Bo", "2026-11-24T10:00:00.050+00:00")]),
        ("update_before_image_same_key.json", [("U", "2", "Bob", "2026-11-24T10:00:01+00:00")]),
        (
            "update_before_image_key_changed.json",
            [
                ("U", "45", "Jane", "2026-11-24T10:00:02+00:00"),
                ("D", "46", None, "2026-11-24T10:00:02+00:00"),
            ],
        ),
        ("delete.json", [("D", "1", "Ann", "2026-11-24T10:00:03+00:00")]),
        (
            "insert_partition_value_primary_key.json",
            [("I", "7", "Cy", "2026-11-24T10:00:00.100+00:00")],
        ),
    ],
)
def test_data_records_of_every_setting_decode_to_their_change(
    spark: SparkSession, fixture: str, expected: list[tuple[str, str, str | None, str]]
) -> None:
    rows = _decode(spark, fixture)

    assert [(r["_op"], r["id"], r["name"], r["_commit_ts"], r["_error"]) for r in rows] == [
        (op, key, name, _ts(ts), None) for op, key, name, ts in expected
    ]


@pytest.mark.parametrize(
    ("fixture", "op"),
    [
        ("control_create_table.json", "C"),
        ("control_details_table_def.json", "C"),
        ("alter_add_column.json", "A"),
        ("alter_other_table.json", "C"),
        ("insert_other_table.json", "T"),
    ],
)
def test_control_alter_and_other_table_records_are_marked_to_skip(
    spark: SparkSession, fixture: str, op: str
) -> None:
    rows = _decode(spark, fixture)

    assert [(r["_op"], r["_error"]) for r in rows] == [(op, None)]


def test_commit_timestamp_wins_over_the_record_timestamp(spark: SparkSession) -> None:
    (row,) = _decode(spark, "insert_transaction_details.json")

    assert row["_commit_ts"] == _ts("2026-11-24T10:00:00.050+00:00")


def test_positions_sort_like_the_sequence_numbers(spark: SparkSession) -> None:
    sequences = ["9", "10", "49590338271490256608559692538361571095921575989136588898"]
    df = spark.createDataFrame([(s,) for s in sequences], "seq string")
    ordered = [r["seq"] for r in df.orderBy(kinesis_position(F.col("seq"))).collect()]

    assert ordered == sequences


def test_reader_options_name_the_stream_endpoint_and_limits() -> None:
    source = KinesisSource(
        stream="arn:aws:kinesis:eu-west-1:123456789012:stream/cdc",
        max_records_per_shard=500,
    )
    aws = AwsConfig(region="eu-west-1")

    options = kinesis_options(source, aws)

    assert options["streamName"] == "cdc"
    assert options["streamARN"] == source.stream
    assert options["endpointUrl"] == "https://kinesis.eu-west-1.amazonaws.com"
    assert options["startingPosition"] == "TRIM_HORIZON"
    assert options["maxFetchRecordsPerShard"] == "500"
    assert options["kinesis.executor.maxFetchRecordsPerShard"] == "500"
    # Ten seconds to fetch a shard, not the connector's one, which a cold executor spends
    # on start-up; the source's own options still win.
    assert options["kinesis.executor.maxFetchTimeInMs"] == "10000"
    mine = KinesisSource(stream="cdc", options={"kinesis.executor.maxFetchTimeInMs": "500"})
    assert kinesis_options(mine, aws)["kinesis.executor.maxFetchTimeInMs"] == "500"


def test_starting_timestamp_is_a_utc_time_on_glue_and_per_shard_json_elsewhere() -> None:
    at = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    source = KinesisSource(stream="cdc", starting_timestamp=at)
    aws = AwsConfig(endpoints={"kinesis": "http://127.0.0.1:4568"})

    on_glue = kinesis_options(source, aws)
    elsewhere = kinesis_options(source, aws, shard_ids=["shardId-000000000000"])

    assert on_glue["startingPosition"] == "2026-11-24T12:00:00Z"
    assert on_glue["endpointUrl"] == "http://127.0.0.1:4568"
    assert '"iteratorType": "AT_TIMESTAMP"' in elsewhere["startingPosition"]
    assert f'"iteratorPosition": "{int(at.timestamp() * 1000)}"' in elsewhere["startingPosition"]
    assert '"streamName": "cdc"' in elsewhere["startingPosition"]

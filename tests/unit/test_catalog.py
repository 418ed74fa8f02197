"""The Glue Data Catalog registration: pure helpers, then GlueTable against moto's Glue."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from pyspark.sql.types import (
    ArrayType,
    DecimalType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from sinks.catalog import (
    CREATE_BATCH,
    CatalogError,
    GlueTable,
    chunks,
    glue_columns,
    glue_location,
    hive_type,
    partition_values,
)

SCHEMA = StructType(
    [
        StructField("id", LongType()),
        StructField("Name", StringType()),
        StructField("year", IntegerType()),
        StructField("day", IntegerType()),
    ]
)


# ------------------------------------------------------------------ pure helpers


def test_hive_types_of_spark_types_including_nested_and_timestamp_ntz() -> None:
    assert hive_type(DecimalType(12, 2)) == "decimal(12,2)"
    assert hive_type(TimestampType()) == "timestamp"
    assert hive_type(TimestampNTZType()) == "timestamp"
    nested = StructType(
        [
            StructField("tags", ArrayType(StringType())),
            StructField("at", MapType(StringType(), TimestampNTZType())),
        ]
    )
    assert hive_type(nested) == "struct<tags:array<string>,at:map<string,timestamp>>"


def test_columns_are_lower_cased_and_can_be_picked_in_order() -> None:
    assert glue_columns(SCHEMA, ["day", "year"]) == [
        {"Name": "day", "Type": "int"},
        {"Name": "year", "Type": "int"},
    ]
    assert [c["Name"] for c in glue_columns(SCHEMA)] == ["id", "name", "year", "day"]


def test_locations_use_the_s3_scheme_whatever_scheme_the_job_writes_with() -> None:
    assert glue_location("s3a://bucket/lake/t/") == "s3://bucket/lake/t"
    assert glue_location("s3://bucket/lake/t") == "s3://bucket/lake/t"
    with pytest.raises(ValueError, match="must be on S3"):
        glue_location("file:/tmp/lake/t")


def test_partition_values_follow_the_key_order_and_are_unescaped() -> None:
    assert partition_values("year=2020/day=3", ["year", "day"]) == ["2020", "3"]
    assert partition_values("at=2020-01-01 10%3A00%3A00", ["at"]) == ["2020-01-01 10:00:00"]
    assert partition_values("day=__HIVE_DEFAULT_PARTITION__", ["day"]) == [
        "__HIVE_DEFAULT_PARTITION__"
    ]
    with pytest.raises(ValueError, match="does not match"):
        partition_values("day=3/year=2020", ["year", "day"])


def test_chunks_never_exceed_the_api_limit_and_keep_every_item() -> None:
    items = list(range(250))
    batches = list(chunks(items, CREATE_BATCH))
    assert [len(b) for b in batches] == [100, 100, 50]
    assert [i for b in batches for i in b] == items
    assert list(chunks([], 100)) == []
    with pytest.raises(ValueError):
        list(chunks(items, 0))


# ----------------------------------------------------------- against moto's Glue


@pytest.fixture
def glue(moto_endpoint: str) -> Any:
    return boto3.client("glue", endpoint_url=moto_endpoint, region_name="us-east-1")


def table(glue: Any, database: str | None = None) -> GlueTable:
    return GlueTable(
        glue,
        database=database or f"db_{uuid.uuid4().hex[:8]}",
        table="Cases",
        location="s3a://bucket/lake/cases",
    )


def registered(glue: Any, entry: GlueTable) -> set[tuple[str, ...]]:
    pages = glue.get_paginator("get_partitions").paginate(
        DatabaseName=entry.database, TableName=entry.table
    )
    return {tuple(p["Values"]) for page in pages for p in page["Partitions"]}


def test_first_sync_creates_database_and_parquet_table_with_hive_partition_keys(
    glue: Any,
) -> None:
    entry = table(glue)
    entry.sync(SCHEMA, ["year", "day"], added=["year=2020/day=1"])
    got = glue.get_table(DatabaseName=entry.database, Name="cases")["Table"]
    assert got["TableType"] == "EXTERNAL_TABLE"
    assert [(c["Name"], c["Type"]) for c in got["StorageDescriptor"]["Columns"]] == [
        ("id", "bigint"),
        ("name", "string"),
    ]
    assert [(c["Name"], c["Type"]) for c in got["PartitionKeys"]] == [
        ("year", "int"),
        ("day", "int"),
    ]
    assert got["StorageDescriptor"]["Location"] == "s3://bucket/lake/cases"
    assert "ParquetHiveSerDe" in got["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    (partition,) = glue.get_partitions(DatabaseName=entry.database, TableName="cases")["Partitions"]
    assert partition["Values"] == ["2020", "1"]
    assert partition["StorageDescriptor"]["Location"] == "s3://bucket/lake/cases/year=2020/day=1"


def test_more_partitions_than_one_call_takes_are_all_registered_and_again_is_no_error(
    glue: Any,
) -> None:
    entry = table(glue)
    paths = [f"year=2020/day={d}" for d in range(230)]
    entry.sync(SCHEMA, ["year", "day"], added=paths)
    assert registered(glue, entry) == {("2020", str(d)) for d in range(230)}
    # A restarted process registers the manifest's partitions again: not an error.
    again = table(glue, entry.database)
    again.sync(SCHEMA, ["year", "day"], added=paths[:5])
    assert len(registered(glue, entry)) == 230


def test_emptied_partitions_are_dropped(glue: Any) -> None:
    entry = table(glue)
    entry.sync(SCHEMA, ["year", "day"], added=["year=2020/day=1", "year=2020/day=2"])
    entry.sync(SCHEMA, ["year", "day"], added=["year=2020/day=3"], removed=["year=2020/day=1"])
    assert registered(glue, entry) == {("2020", "2"), ("2020", "3")}


def test_reconcile_at_start_adds_what_is_missing_and_drops_what_is_gone(glue: Any) -> None:
    entry = table(glue)
    entry.sync(SCHEMA, ["year", "day"], added=["year=2020/day=1", "year=2020/day=2"])
    # The process died after committing a batch that emptied day 1 and created day 3.
    restarted = table(glue, entry.database)
    restarted.reconcile(SCHEMA, ["year", "day"], ["year=2020/day=2", "year=2020/day=3"])
    assert registered(glue, entry) == {("2020", "2"), ("2020", "3")}


def test_a_new_column_updates_the_table(glue: Any) -> None:
    entry = table(glue)
    entry.sync(SCHEMA, ["year", "day"], added=[])
    wider = StructType([*SCHEMA.fields, StructField("note", StringType())])
    table(glue, entry.database).sync(wider, ["year", "day"], added=[])
    got = glue.get_table(DatabaseName=entry.database, Name="cases")["Table"]
    assert [c["Name"] for c in got["StorageDescriptor"]["Columns"]] == ["id", "name", "note"]


def test_an_existing_table_with_other_partition_keys_is_refused(glue: Any) -> None:
    entry = table(glue)
    entry.sync(SCHEMA, ["year", "day"], added=[])
    with pytest.raises(CatalogError, match=r"partition keys \['year', 'day'\]"):
        table(glue, entry.database).sync(SCHEMA, ["day"], added=[])


def test_a_real_error_surfaces_with_the_table_name_and_aws_message(glue: Any) -> None:
    entry = table(glue)
    entry.sync(SCHEMA, ["year", "day"], added=["year=2020/day=1"])
    glue.delete_database(Name=entry.database)  # dropped behind the job's back
    with pytest.raises(CatalogError) as caught:
        entry.sync(SCHEMA, ["year", "day"], added=["year=2020/day=2"])
    message = str(caught.value)
    assert f"Glue table {entry.database}.cases" in message
    assert "BatchCreatePartition failed: EntityNotFoundException" in message
    assert "not found" in message


class _RefusingGlue:
    """A Glue client whose BatchCreatePartition refuses some partitions (moto never does)."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def batch_create_partition(self, **kwargs: Any) -> dict[str, Any]:
        entries = kwargs["PartitionInputList"]
        return {
            "Errors": [
                {
                    "PartitionValues": entries[0]["Values"],
                    "ErrorDetail": {"ErrorCode": "AlreadyExistsException", "ErrorMessage": "x"},
                },
                {
                    "PartitionValues": entries[1]["Values"],
                    "ErrorDetail": {
                        "ErrorCode": "InternalServiceException",
                        "ErrorMessage": "try again",
                    },
                },
            ]
        }


def test_per_partition_errors_other_than_already_exists_are_raised(glue: Any) -> None:
    entry = GlueTable(
        _RefusingGlue(glue),
        database=f"db_{uuid.uuid4().hex[:8]}",
        table="cases",
        location="s3://bucket/lake/cases",
    )
    with pytest.raises(CatalogError) as caught:
        entry.sync(SCHEMA, ["year", "day"], added=["year=2020/day=1", "year=2020/day=2"])
    assert str(caught.value).endswith(
        "1 partitions not registered: 2020/2: InternalServiceException: try again"
    )


def test_a_delta_table_is_registered_once_as_native_delta(glue: Any) -> None:
    entry = table(glue)
    entry.register_delta(SCHEMA, ["day"])
    table(glue, entry.database).register_delta(SCHEMA, ["day"])  # restart: no error
    got = glue.get_table(DatabaseName=entry.database, Name="cases")["Table"]
    assert got["TableType"] == "EXTERNAL_TABLE"
    assert got["Parameters"]["table_type"] == "DELTA"
    assert got["Parameters"]["spark.sql.sources.provider"] == "delta"
    assert got["StorageDescriptor"]["SerdeInfo"]["Parameters"]["path"] == "s3://bucket/lake/cases"
    assert got.get("PartitionKeys", []) == []
    assert [c["Name"] for c in got["StorageDescriptor"]["Columns"]] == ["id", "name", "year", "day"]

"""Tables described by their records: Debezium events in Kafka Connect's JSON converter
envelope (schemas enabled) carry the table's columns and key.

Messages are shaped as the converter writes them (Debezium's documented envelope:
`schema` with `before`/`after` structs of typed fields, logical `name`s, and with
`column.propagate.source.type` the database type in `parameters`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from config import ConfigError, load_config
from runtime.routing import newest_message
from runtime.tables import Registry, catalog_of
from sources.record_schemas import RecordSchemas
from tests.debezium import envelope_schema
from transforms.types import debezium_column

SPORTS = Path(__file__).resolve().parents[2] / "conf" / "sports.yaml"
# The sports job with no source database: the records are the only description.
NO_CATALOG = ["source.database=null", "denormalize=[]"]


def field(name: str, kind: str, logical: str | None = None, **parameters: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": kind, "optional": True, "field": name}
    if logical:
        spec["name"], spec["version"] = logical, 1
    if parameters:
        spec["parameters"] = parameters
    return spec


def message(table: str, fields: list[dict[str, Any]], row: dict[str, Any]) -> str:
    schema = envelope_schema(f"sports.sports.{table}", fields)
    return json.dumps({"schema": schema, "payload": {"before": None, "after": row, "op": "c"}})


def key(fields: list[dict[str, Any]], row: dict[str, Any]) -> str:
    schema = {"type": "struct", "fields": fields, "optional": False, "name": "sports.Key"}
    return json.dumps({"schema": schema, "payload": row})


VENUE = [
    field("venue_id", "int32"),
    field("name", "string"),
    field("opened", "int32", "io.debezium.time.Date"),
    field("updated_at", "int64", "io.debezium.time.MicroTimestamp"),
    field("checked_at", "int64", "io.debezium.time.Timestamp"),
    field("seen_at", "string", "io.debezium.time.ZonedTimestamp"),
    field("active", "boolean"),
    field("capacity", "int64"),
    field("rating", "double"),
    field("notes", "string", "io.debezium.data.Json"),
    field("price", "string", None, **{
        "__debezium.source.column.type": "DECIMAL",
        "__debezium.source.column.length": "10",
        "__debezium.source.column.scale": "2",
    }),
]  # fmt: skip
VENUE_KEY = [field("venue_id", "int32")]
PRECISE = "org.apache.kafka.connect.data.Decimal"  # decimal.handling.mode=precise


def test_a_table_is_typed_and_decoded_from_its_records_schema() -> None:
    catalog = RecordSchemas()
    catalog.offer("sports", "venue", [(message("venue", VENUE, {}), key(VENUE_KEY, {}))])

    found = catalog.describe("sports", "venue")

    assert found is not None and found.keys == ("venue_id",)
    assert [(c.name, c.type, c.encoding) for c in map(debezium_column, found.columns)] == [
        ("venue_id", "int", "text"),
        ("name", "string", "text"),
        ("opened", "date", "epoch_days"),
        ("updated_at", "timestamp", "epoch_micros"),
        ("checked_at", "timestamp", "epoch_millis"),
        ("seen_at", "timestamp", "text"),
        ("active", "boolean", "boolean"),
        ("capacity", "bigint", "text"),
        ("rating", "double", "text"),
        ("notes", "string", "text"),
        ("price", "decimal(10,2)", "text"),
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (json.dumps({"before": None, "after": {"venue_id": 1}, "op": "c"}), "carry no schema"),
        (
            message("venue", [*VENUE_KEY, field("fee", "bytes", PRECISE)], {}),
            "column fee: DECIMAL written as bytes; set the connector's decimal.handling.mode=",
        ),
    ],
)  # fmt: skip
def test_a_table_its_records_cannot_describe_is_not_replicated_with_the_reason(
    value: str, reason: str
) -> None:
    tables = Registry(load_config(SPORTS, NO_CATALOG), RecordSchemas(), debezium_column)
    tables.start()

    tables.offer("sports", "venue", [(value, None)])

    assert tables.find("sports", "venue") is None
    catalog = RecordSchemas()
    catalog.offer("sports", "venue", [(value, None)])
    assert reason in (catalog.problem("sports", "venue") or "")


def test_without_a_source_database_debezium_tables_are_described_by_their_records() -> None:
    config = load_config(SPORTS, NO_CATALOG)
    tables = Registry(config, catalog_of(config), debezium_column)

    assert tables.start() == []  # nothing seen yet: no table, and no error
    assert tables.from_records

    tables.offer("sports", "venue", [(message("venue", VENUE, {}), key(VENUE_KEY, {}))])
    venue = tables.find("sports", "venue")
    assert venue is not None and venue.discovered and venue.config.keys == ["venue_id"]


def test_an_explicit_entry_without_columns_waits_for_its_first_records() -> None:
    tables = Registry(load_config(SPORTS, NO_CATALOG), RecordSchemas(), debezium_column)
    tables.start()
    fields = [field("customer_id", "int32"), field("email", "string"), field("phone", "string")]

    tables.offer("sports", "customer", [(message("customer", fields, {}), key(fields[:1], {}))])
    customer = tables.find("sports", "customer")

    assert customer is not None
    assert customer.config.protect == {"email": "hmac", "phone": "mask"}  # the entry's own
    assert customer.config.column_names == ["customer_id", "email", "phone"]


def test_an_explicit_entry_declares_the_key_its_records_do_not_give() -> None:
    tables = Registry(
        load_config(SPORTS, [*NO_CATALOG, "tables.1.keys=[customer_id]"]),
        RecordSchemas(),
        debezium_column,
    )
    tables.start()
    fields = [field("customer_id", "int32"), field("email", "string"), field("phone", "string")]

    tables.offer("sports", "customer", [(message("customer", fields, {}), None)])  # no key
    customer = tables.find("sports", "customer")

    assert customer is not None and customer.config.keys == ["customer_id"]


def test_a_column_added_at_the_source_is_followed_from_the_record_that_carries_it() -> None:
    tables = Registry(load_config(SPORTS, NO_CATALOG), RecordSchemas(), debezium_column)
    tables.start()
    tables.offer("sports", "venue", [(message("venue", VENUE, {}), key(VENUE_KEY, {}))])
    venue = tables.find("sports", "venue")
    assert venue is not None

    wider = [*VENUE, field("city", "string")]
    tables.offer("sports", "venue", [(message("venue", wider, {}), key(VENUE_KEY, {}))])
    change = tables.refresh(venue)

    assert not change.incompatible and venue.stopped is None
    assert venue.config.column_names[-1] == "city"


def test_denormalizing_tables_only_their_records_describe_fails_at_start_saying_why() -> None:
    config = load_config(SPORTS, ["source.database=null"])
    with pytest.raises(ConfigError, match="described only by their first records"):
        Registry(config, RecordSchemas(), debezium_column).start()


def test_the_newest_message_of_a_table_in_a_batch_is_what_describes_it(
    spark: SparkSession,
) -> None:
    """Offset order within a partition; a delete's tombstone (no value) does not hide the
    schema."""
    rows = [("k1", "older", 5), ("k2", "newest", 7), ("k3", None, 8), ("k0", "oldest", 3)]
    batch = spark.createDataFrame(rows, "key string, value string, offset long")

    row = batch.agg(*newest_message()).first()

    assert row is not None
    assert (row["newest_value"], row["newest_key"]) == ("newest", "k2")


def test_across_partitions_the_message_latest_in_the_binlog_describes_the_table() -> None:
    def at(pos: int, fields: list[dict[str, Any]]) -> str:
        event = json.loads(message("venue", fields, {}))
        event["payload"]["source"] = {"file": "mysql-bin.000002", "pos": pos, "row": 0}
        return json.dumps(event)

    wider = [*VENUE, field("city", "string")]
    catalog = RecordSchemas()  # partition 1's newest is older than partition 0's
    catalog.offer("sports", "venue", [(at(900, wider), None), (at(400, VENUE), None)])

    found = catalog.describe("sports", "venue")
    assert found is not None and found.columns[-1].name == "city"

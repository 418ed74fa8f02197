"""decode_debezium_json: Debezium MySQL change events -> `_op` + string fields + binlog position."""

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from config import ColumnSpec, DerivedColumn, KafkaSource, TableConfig
from runtime.decoding import SourceFormat
from runtime.tables import Replica
from transforms import debezium_json
from transforms.canonical import split_rejected
from transforms.coerce import coerce_types
from transforms.debezium_json import decode_debezium_json
from transforms.derive import add_derived
from transforms.types import SourceColumn

COLUMNS = ["customer_id", "name", "created_at", "birth_date", "balance"]
TOPIC = "dbserver1.inventory.customer"
KAFKA = "key string, value string, topic string, partition int, offset long"
TS_MS = 1629093901000  # 2021-08-16 06:05:01 UTC: MySQL binlog times have whole seconds

Row = Mapping[str, Any]
TERESA: Row = {
    "customer_id": 222,
    "name": "Teresa Stein",
    "created_at": 1529476623000,  # DATETIME 2018-06-20 06:37:03, time.precision.mode=connect
    "birth_date": 9131,  # DATE 1995-01-01 as epoch days
    "balance": "1234.50",  # DECIMAL(10,2), decimal.handling.mode=string
}
TERESA_MOVED: Row = {**TERESA, "name": "Teresa Stein-Houston"}


def _source(
    *,
    file: str = "mysql-bin.000003",
    pos: int = 154,
    row: int = 0,
    snapshot: str | bool = "false",
    db: str = "inventory",
    table: str = "customer",
    ts_ms: int = TS_MS,
) -> dict[str, Any]:
    return {
        "version": "2.7.3.Final",
        "connector": "mysql",
        "name": "dbserver1",
        "ts_ms": ts_ms,
        "snapshot": snapshot,
        "db": db,
        "sequence": None,
        "table": table,
        "server_id": 223344,
        "gtid": None,
        "file": file,
        "pos": pos,
        "row": row,
        "thread": 7,
        "query": None,
    }


def _event(
    op: str | None,
    *,
    before: Row | None = None,
    after: Row | None = None,
    **source: Any,
) -> str:
    event: dict[str, Any] = {
        "before": None if before is None else dict(before),
        "after": None if after is None else dict(after),
        "source": _source(**source),
        "ts_ms": TS_MS + 523,
        "transaction": None,
    }
    if op is not None:
        event["op"] = op
    return json.dumps(event)


def _key(customer_id: int) -> str:
    return json.dumps({"customer_id": customer_id})


CREATE = _event("c", after=TERESA, pos=154)
UPDATE = _event("u", before=TERESA, after=TERESA_MOVED, pos=484)
DELETE = _event("d", before=TERESA_MOVED, pos=805)
READ = _event("r", after=TERESA, pos=100, snapshot="first")
TRUNCATE = _event("t", pos=1200)


def _kafka(spark: SparkSession, messages: Sequence[tuple[str | None, str | None]]) -> DataFrame:
    rows = [(key, value, TOPIC, 0, offset) for offset, (key, value) in enumerate(messages)]
    return spark.createDataFrame(rows, KAFKA)


def _decode(spark: SparkSession, messages: Sequence[tuple[str | None, str | None]]) -> DataFrame:
    return _kafka(spark, messages).transform(
        decode_debezium_json(COLUMNS, database="inventory", table="customer")
    )


def _values(spark: SparkSession, values: Sequence[str | None]) -> DataFrame:
    return _decode(spark, [(_key(222), v) for v in values])


def _sorted_by_pos(
    spark: SparkSession, in_order: Sequence[str], arrival: Sequence[int]
) -> list[int]:
    """Send in_order[i] for i in arrival as Kafka offsets 0, 1, ...; in_order indexes by `_pos`."""
    decoded = _kafka(spark, [(None, in_order[i]) for i in arrival]).transform(
        decode_debezium_json(COLUMNS, database="inventory", table="customer")
    )
    offsets = [r._source_file.rsplit("/", 1)[1] for r in decoded.orderBy("_pos").collect()]
    return [arrival[int(offset)] for offset in offsets]


def test_output_has_the_dms_decoder_record_shape(spark: SparkSession) -> None:
    decoded = _values(spark, [CREATE])

    assert decoded.columns == [
        "_op",
        *COLUMNS,
        "_commit_ts",
        "_pos",
        "_raw",
        "_source_file",
        "_raw_key",
        "_error",
    ]
    assert {f.dataType.simpleString() for f in decoded.schema.fields if f.name in COLUMNS} == {
        "string"
    }


def test_create_update_read_map_to_insert_update_load_delete_to_delete(
    spark: SparkSession,
) -> None:
    decoded = _values(spark, [CREATE, UPDATE, DELETE, READ])

    expected = spark.createDataFrame(
        [
            ("I", "222", "Teresa Stein", None),
            ("U", "222", "Teresa Stein-Houston", None),
            ("D", "222", "Teresa Stein-Houston", None),
            ("L", "222", "Teresa Stein", None),
        ],
        "_op string, customer_id string, name string, _error string",
    )
    assert_df_equality(
        decoded.select("_op", "customer_id", "name", "_error"),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_update_takes_values_from_after_and_delete_from_before(spark: SparkSession) -> None:
    decoded = _values(spark, [UPDATE, DELETE])

    expected = spark.createDataFrame(
        [
            ("U", "222", "Teresa Stein-Houston", "1529476623000", "9131", "1234.50"),
            ("D", "222", "Teresa Stein-Houston", "1529476623000", "9131", "1234.50"),
        ],
        "_op string, customer_id string, name string, created_at string, "
        "birth_date string, balance string",
    )
    assert_df_equality(
        decoded.select("_op", *COLUMNS), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_delete_without_before_takes_its_key_from_the_message_key(spark: SparkSession) -> None:
    decoded = _decode(spark, [(_key(223), _event("d", pos=900))])

    expected = spark.createDataFrame(
        [("D", "223", None, None)], "_op string, customer_id string, name string, _error string"
    )
    assert_df_equality(
        decoded.select("_op", "customer_id", "name", "_error"), expected, ignore_nullable=True
    )


def test_tombstone_is_skipped_not_an_error(spark: SparkSession) -> None:
    decoded = _decode(spark, [(_key(222), DELETE), (_key(222), None)])

    expected = spark.createDataFrame(
        [("D", None, "0"), ("T", None, "1")], "_op string, _error string, offset string"
    )
    actual = decoded.select(
        "_op", "_error", F.element_at(F.split("_source_file", "/"), -1).alias("offset")
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_event_of_another_table_or_database_is_skipped(spark: SparkSession) -> None:
    decoded = _values(
        spark,
        [
            _event("c", after=TERESA, table="ticket"),
            _event("u", before=TERESA, after=TERESA, db="sales"),
            _event("t", table="ticket"),
            _event(None, after=TERESA, table="ticket"),
        ],
    )

    expected = spark.createDataFrame([("T", None)] * 4, "_op string, _error string")
    assert_df_equality(decoded.select("_op", "_error"), expected, ignore_nullable=True)


def test_truncate_is_rejected_with_its_reason_never_skipped(spark: SparkSession) -> None:
    decoded = _decode(spark, [(None, TRUNCATE)])

    expected = spark.createDataFrame(
        [("X", "Debezium truncate event: truncate the target table by hand")],
        "_op string, _error string",
    )
    assert_df_equality(decoded.select("_op", "_error"), expected, ignore_nullable=True)


def test_undecodable_events_are_reported_with_reason(spark: SparkSession) -> None:
    bad_in_envelope = _enveloped(_event("c", pos=154))
    no_position = CREATE.replace('"file": "mysql-bin.000003"', '"file": null')
    bad_position = CREATE.replace('"pos": 154', '"pos": "near the end"')
    no_table = CREATE.replace('"table": "customer"', '"table": null')
    schema_change = json.dumps(
        {
            "source": json.loads(CREATE)["source"],
            "databaseName": "sports",
            "ddl": "ALTER TABLE customer ADD COLUMN loyalty INT",
            "tableChanges": [{"type": "ALTER", "id": '"sports"."customer"'}],
        }
    )
    values = [
        "{not json",
        "",
        _event(None, after=TERESA),
        json.dumps({"op": "c", "after": TERESA}),
        bad_in_envelope,
        _event("x", after=TERESA),
        _event("c"),
        _event("u", before=TERESA),
        _event("r"),
        no_position,
        bad_position,
        no_table,
        schema_change,
    ]
    decoded = _decode(spark, [(None, v) for v in values])

    expected = spark.createDataFrame(
        list(
            zip(
                values,
                [
                    "malformed JSON record",
                    "empty record",
                    "Debezium event without op",
                    "Debezium event without source",
                    "Debezium event without after",
                    "unknown Debezium op",
                    "Debezium event without after",
                    "Debezium event without after",
                    "Debezium event without after",
                    "Debezium event without binlog position (source.file, pos, row)",
                    "Debezium event without binlog position (source.file, pos, row)",
                    "Debezium event without source.db or source.table",
                    "Debezium schema-change event (DDL), not a row change",
                ],
                strict=True,
            )
        ),
        "_raw string, _error string",
    )
    assert_df_equality(
        decoded.select("_raw", "_error"), expected, ignore_row_order=True, ignore_nullable=True
    )


def _enveloped(message: str) -> str:
    """A message as the JSON converter writes it with `schemas.enable=true`: the event (or
    key) is the `payload`; the schema's content does not matter to the decoder."""
    payload = json.loads(message)
    schema = {"type": "struct", "name": "dbserver1.inventory.customer.Envelope", "fields": []}
    return json.dumps({"schema": schema, "payload": payload})


def test_events_in_a_schema_envelope_decode_as_without_it(spark: SparkSession) -> None:
    events = [CREATE, UPDATE, DELETE, READ]
    bare = _decode(spark, [(_key(222), e) for e in events])
    enveloped = _decode(spark, [(_enveloped(_key(222)), _enveloped(e)) for e in events])

    columns = ["_op", *COLUMNS, "_commit_ts", "_pos", "_error"]
    assert enveloped.where(F.col("_error").isNotNull()).count() == 0
    assert_df_equality(enveloped.select(columns), bare.select(columns), ignore_nullable=True)


def test_a_delete_in_an_envelope_takes_its_key_from_the_enveloped_key(
    spark: SparkSession,
) -> None:
    delete = _enveloped(_event("d", pos=805))  # no `before`: the key names the row
    decoded = _decode(spark, [(_enveloped(_key(333)), delete)])

    row = decoded.select("_op", "customer_id", "_error").first()
    assert row is not None
    assert (row["_op"], row["customer_id"], row["_error"]) == ("D", "333", None)


def test_a_schema_change_event_in_an_envelope_is_still_reported(spark: SparkSession) -> None:
    ddl = {"source": _source(), "databaseName": "inventory", "ddl": "ALTER TABLE customer ..."}
    decoded = _decode(spark, [(None, _enveloped(json.dumps(ddl)))])

    row = decoded.select("_error").first()
    assert row is not None
    assert row["_error"] == "Debezium schema-change event (DDL), not a row change"


def test_delete_without_before_or_key_is_reported(spark: SparkSession) -> None:
    decoded = _decode(spark, [(None, _event("d", pos=900))])

    expected = spark.createDataFrame(
        [("D", "Debezium delete event without before or key")], "_op string, _error string"
    )
    assert_df_equality(decoded.select("_op", "_error"), expected, ignore_nullable=True)


def test_commit_ts_is_the_source_ts_ms(spark: SparkSession) -> None:
    decoded = _values(spark, [CREATE, _event("u", after=TERESA, ts_ms=TS_MS + 60_000)])

    expected = spark.createDataFrame(
        [
            (datetime(2021, 8, 16, 6, 5, 1, tzinfo=UTC).replace(tzinfo=None),),
            (datetime(2021, 8, 16, 6, 6, 1, tzinfo=UTC).replace(tzinfo=None),),
        ],
        "_commit_ts timestamp",
    )
    assert_df_equality(
        decoded.select("_commit_ts"), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_raw_value_and_kafka_position_are_kept(spark: SparkSession) -> None:
    decoded = _values(spark, [CREATE])

    expected = spark.createDataFrame([(CREATE, f"{TOPIC}/0/0")], "_raw string, _source_file string")
    assert_df_equality(decoded.select("_raw", "_source_file"), expected, ignore_nullable=True)


def test_pos_sorts_by_binlog_file_number_then_position_then_row(spark: SparkSession) -> None:
    # Listed in binlog order; every neighbour pair is a trap for a plain string sort.
    in_binlog_order = [
        _event("u", after=TERESA, file="mysql-bin.000009", pos=99_999, row=0),
        _event("u", after=TERESA, file="mysql-bin.000010", pos=4, row=0),
        _event("u", after=TERESA, file="mysql-bin.000010", pos=4, row=9),
        _event("u", after=TERESA, file="mysql-bin.000010", pos=4, row=10),
        _event("u", after=TERESA, file="mysql-bin.000010", pos=99, row=0),
        _event("u", after=TERESA, file="mysql-bin.000010", pos=100, row=0),
        _event("u", after=TERESA, file="mysql-bin.999999", pos=100, row=0),
        _event("u", after=TERESA, file="mysql-bin.1000000", pos=4, row=0),
    ]
    arrival = [4, 0, 6, 2, 7, 1, 5, 3]  # Kafka offsets say nothing about binlog order

    assert _sorted_by_pos(spark, in_binlog_order, arrival) == list(range(len(arrival)))


def test_snapshot_read_sorts_before_a_change_at_the_same_binlog_position(
    spark: SparkSession,
) -> None:
    in_order = [
        _event("u", after=TERESA, file="mysql-bin.000003", pos=120),
        _event("r", after=TERESA, file="mysql-bin.000003", pos=154, snapshot="last"),
        _event("r", after=TERESA, file="mysql-bin.000003", pos=154, snapshot=True),
        _event("u", after=TERESA, file="mysql-bin.000003", pos=154, row=0),
        _event("u", after=TERESA, file="mysql-bin.000003", pos=200),
    ]

    # The two reads tie on the binlog: their Kafka offsets (2, then 4) order them.
    assert _sorted_by_pos(spark, in_order, [3, 4, 1, 0, 2]) == [0, 1, 2, 3, 4]


def test_incremental_snapshot_read_sorts_by_binlog_position_like_a_change(
    spark: SparkSession,
) -> None:
    in_order = [
        _event("u", after=TERESA, pos=300),
        _event("r", after=TERESA, pos=400, snapshot="incremental"),
        _event("u", after=TERESA, pos=500),
    ]

    assert _sorted_by_pos(spark, in_order, [2, 1, 0]) == [0, 1, 2]


def test_kafka_offset_breaks_the_tie_of_a_redelivered_event(spark: SparkSession) -> None:
    # Kafka Connect redelivers after a crash: the same event twice, at two offsets.
    in_order = [CREATE, UPDATE, UPDATE]

    assert _sorted_by_pos(spark, in_order, [1, 0, 2]) == [0, 1, 2]


def test_datetime_date_and_decimal_values_type_through_coerce_and_derive(
    spark: SparkSession,
) -> None:
    specs = [
        ColumnSpec(name="customer_id", type="int"),
        ColumnSpec(name="name", type="string"),
        ColumnSpec(name="created_at", type="bigint"),
        ColumnSpec(name="birth_date", type="int"),
        ColumnSpec(name="balance", type="decimal(10,2)"),
    ]
    derived = [
        DerivedColumn(name="created_at", expr="timestamp_millis(created_at)"),
        DerivedColumn(name="birth_date", expr="date_from_unix_date(birth_date)"),
    ]
    typed = (
        _values(spark, [CREATE])
        .transform(coerce_types(specs, ["customer_id"]))
        .transform(add_derived(derived))
    )

    expected = spark.createDataFrame(
        [(222, datetime(2018, 6, 20, 6, 37, 3), date(1995, 1, 1), Decimal("1234.50"), None)],
        "customer_id int, created_at timestamp, birth_date date, balance decimal(10,2), "
        "_error string",
    )
    assert_df_equality(
        typed.select("customer_id", "created_at", "birth_date", "balance", "_error"),
        expected,
        ignore_nullable=True,
    )


def test_datetime_declared_as_timestamp_is_rejected_not_guessed(spark: SparkSession) -> None:
    typed = _values(spark, [CREATE]).transform(
        coerce_types([ColumnSpec(name="created_at", type="timestamp")], ["customer_id"])
    )

    expected = spark.createDataFrame(
        [("column created_at: not a valid timestamp",)], "_error string"
    )
    assert_df_equality(typed.select("_error"), expected, ignore_nullable=True)


def test_decoded_events_split_into_applied_and_rejected_skipping_the_rest(
    spark: SparkSession,
) -> None:
    specs = [
        ColumnSpec(name="customer_id", type="int"),
        ColumnSpec(name="name", type="string"),
        ColumnSpec(name="created_at", type="bigint"),
        ColumnSpec(name="birth_date", type="int"),
        ColumnSpec(name="balance", type="decimal(10,2)"),
    ]
    bad_balance = _event("u", after={**TERESA, "balance": "lots"}, pos=600)
    messages = [
        (_key(222), READ),
        (_key(222), CREATE),
        (_key(222), UPDATE),
        (_key(222), DELETE),
        (_key(222), None),  # tombstone
        (None, TRUNCATE),
        (_key(1), _event("c", after={"customer_id": 1}, table="ticket")),
        (None, "{not json"),
        (_key(222), _event(None, after=TERESA)),
        (_key(222), bad_balance),
    ]
    records = _decode(spark, messages).transform(coerce_types(specs, ["customer_id"]))

    good, rejected = split_rejected(records)

    assert sorted((r._op, r.customer_id) for r in good.collect()) == [
        ("D", 222),
        ("I", 222),
        ("L", 222),
        ("U", 222),
    ]
    expected = spark.createDataFrame(
        [
            ("X", "Debezium truncate event: truncate the target table by hand"),
            (None, "malformed JSON record"),
            (None, "Debezium event without op"),
            ("U", "column balance: not a valid decimal(10,2)"),
        ],
        "_op string, _error string",
    )
    assert_df_equality(
        rejected.select("_op", "_error"), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_the_fields_a_batch_brings_are_seen_in_and_out_of_an_envelope(
    spark: SparkSession,
) -> None:
    """What the job compares with a discovered table's columns to follow schema changes."""
    source = KafkaSource(bootstrap_servers="127.0.0.1:9092", topic_prefix="dbserver1")
    with_loyalty = {**TERESA, "loyalty": 3}
    messages = [(None, CREATE), (None, _enveloped(_event("c", after=with_loyalty)))]

    row = _kafka(spark, messages).agg(SourceFormat(source).fields_seen().alias("f")).first()

    assert row is not None
    assert sorted(row["f"]) == sorted([*COLUMNS, "loyalty"])


def test_a_tables_decoder_is_built_once_and_decodes_each_batch_with_its_own_values(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decode plan (hundreds of calls into the JVM) is built at a table's first batch
    and reused while its columns stay the same; a new column gives a new plan."""
    built: list[str] = []
    field = debezium_json._field

    def counted(name: str) -> Column:
        built.append(name)
        return field(name)

    monkeypatch.setattr(debezium_json, "_field", counted)
    source = SourceFormat(KafkaSource(bootstrap_servers="127.0.0.1:9092", topic_prefix="x"))
    types = {"customer_id": "int", "name": "string", "created_at": "bigint",
             "birth_date": "int", "balance": "decimal(10,2)"}  # fmt: skip
    entry = TableConfig(
        name="customer",
        source_schema="inventory",
        keys=["customer_id"],
        columns=[ColumnSpec(name=n, type=t) for n, t in types.items()],
    )
    replica = Replica.declared(entry, "tables.0")

    batches = [[(None, CREATE)], [(None, UPDATE)], [(None, DELETE)]]
    names = [
        [r["name"] for r in _kafka(spark, b).transform(source.typed_records(replica)).collect()]
        for b in batches
    ]

    assert names == [["Teresa Stein"], ["Teresa Stein-Houston"], ["Teresa Stein-Houston"]]
    assert sorted(built) == sorted(COLUMNS)  # one plan for the three batches
    replica.columns = (*replica.columns, SourceColumn("loyalty", "int"))
    with_loyalty = _event("c", after={**TERESA, "loyalty": 3})
    [row] = _kafka(spark, [(None, with_loyalty)]).transform(source.typed_records(replica)).collect()
    assert row["loyalty"] == 3
    assert sorted(built) == sorted([*COLUMNS, *COLUMNS, "loyalty"])


def test_a_message_is_parsed_once_however_many_columns_read_it(spark: SparkSession) -> None:
    """Inside one select, every field read from the parse would parse the message again
    (55 parses per message for a table of eight columns, before this was fixed)."""
    decoded = _decode(spark, [(_key(222), CREATE)])
    plan = decoded._jdf.queryExecution().optimizedPlan().toString()
    assert plan.count("from_json") == 2  # the value, and the key

"""Decode Debezium MySQL/MariaDB change events (Kafka Connect's JSON converter).

One Kafka message value: {"before": {...}|null, "after": {...}|null, "source": {"db",
"table", "file", "pos", "row", "snapshot", "ts_ms", ...}, "op": "c|u|d|r|t", "ts_ms"}.
With the converter's schemas enabled (`value.converter.schemas.enable=true`, Kafka
Connect's default) the same event is the `payload` of {"schema": {...}, "payload": {...}},
and a key is {"schema": {...}, "payload": {"id": ...}}: both are read, in one parse.
A delete is followed by a tombstone (same key, NULL value) for log compaction:
tombstones and events of other tables are marked to be skipped, never rejected.

Values arrive as their JSON text. A discovered column is decoded from its database type
with no expression (transforms/types.py). A table that declares its columns, with the
connector's `time.precision.mode=adaptive_time_microseconds` (local/connectors/) and
`decimal.handling.mode=string`, declares and derives the MySQL types like this:

* DATETIME(6) (epoch microseconds): declare `bigint`, derive `timestamp_micros(created_at)`
  under the same name (DATETIME(0..3) arrive in milliseconds: `timestamp_millis`);
  DATE (epoch days): declare `int`, derive `date_from_unix_date(birth_date)`;
  TIME: declare `bigint` (microseconds of the day).
* TIMESTAMP (ISO-8601 text in UTC) and DECIMAL (text): declare `timestamp` and
  `decimal(p,s)` directly; a DATETIME declared `timestamp` is quarantined, not guessed.

Column names must be spelled as in the table's DDL: JSON field names are case-sensitive.
"""

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.frames import selects_built_once
from transforms.names import (
    COMMIT_TS,
    ERROR,
    OP,
    OP_LOAD,
    OP_OTHER_TABLE,
    OP_TRUNCATE,
    POS,
    RAW,
    RAW_KEY,
    SEP,
    SOURCE_FILE,
)

__all__ = ["binlog_position", "decode_debezium_json"]
_CORRUPT = "__corrupt"
_VALUE, _KEY = "__value", "__key"  # the message's value and key, parsed
_OPERATIONS = {"c": "I", "u": "U", "d": "D", "r": OP_LOAD, "t": OP_TRUNCATE}
_UPSERTS = ("c", "u", "r")
# source.snapshot of the initial and blocking snapshots; "incremental" reads are
# emitted at their chunk's binlog position and order like streamed changes.
_STREAM_ORDERED = ("false", "incremental")
_ENVELOPE = {"schema", "payload"}  # Kafka Connect's JSON converter with schemas enabled
_BINLOG_FILE = r"^(.*)\.([0-9]+)$"  # mysql-bin.000003: base name, then sequence number


def decode_debezium_json(
    columns: Sequence[str], *, database: str, table: str
) -> Callable[[DataFrame], DataFrame]:
    """Kafka rows (`value`, `key`, `topic`, `partition`, `offset`) -> `_op` + string fields.

    `_raw`, `_source_file` (`topic/partition/offset`) and `_raw_key` (the message key) keep
    the message as it came, for the quarantine: what a replay needs to decode it again.

    `c`, `u`, `d`, `r` become I, U, D and L (snapshot read, applied as an upsert); fields
    come from `after`, or for a delete from `before` (then the message key). A truncate
    becomes `X` with an `_error`: the target cannot be truncated change by change.
    """
    row = ", ".join(f"`{name}`: string" for name in columns)
    event = (  # a struct's fields take the same "name type" list as a schema
        f"before struct<{row}>, after struct<{row}>, "
        "source struct<ts_ms: string, snapshot: string, db: string, `table`: string, "
        "file: string, pos: string, `row`: string>, "
        "op string, ddl string"
    )
    schema = f"{event}, schema string, payload struct<{event}>, {_CORRUPT} string"
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
    key_fields = ", ".join(f"`{name}` string" for name in columns)
    # A key column named like the envelope's fields: the key is read as written.
    key_enveloped = not _ENVELOPE & {c.lower() for c in columns}
    key_schema = f"{key_fields}, schema string, payload struct<{key_fields}>"
    names = ["before", "after", "source", "op", "ddl"]

    def stages() -> list[list[Column]]:
        # Parsed once in a select of its own: inside the unwrapping, which reads the parse
        # a few times per field, Spark would parse the message once per reference.
        messages = [
            *[F.col(name) for name in ("value", "key", "topic", "partition", "offset")],
            F.from_json(F.col("value"), schema, options).alias(_VALUE),
            F.from_json(F.col("key"), key_schema if key_enveloped else key_fields).alias(_KEY),
        ]
        parsed = [
            F.col("value").alias(RAW),
            F.concat_ws("/", "topic", "partition", "offset").alias(SOURCE_FILE),
            F.col("key").alias(RAW_KEY),
            F.col("partition"),
            F.col("offset"),
            _unwrapped(F.col(_VALUE), names, _CORRUPT).alias("r"),
            (_unwrapped(F.col(_KEY), columns) if key_enveloped else F.col(_KEY)).alias("k"),
        ]
        return [messages, parsed, _decoded(columns, database, table)]

    return selects_built_once(stages)


def _decoded(columns: Sequence[str], database: str, table: str) -> list[Column]:
    """The record of an unwrapped event (`r`) and key (`k`)."""
    return [
        _op(database, table).alias(OP),
        *[_field(name).alias(name) for name in columns],
        F.timestamp_millis(_long("r.source.ts_ms")).alias(COMMIT_TS),
        binlog_position(F.col("r.source"), F.col("partition"), F.col("offset")).alias(POS),
        F.col(RAW),
        F.col(SOURCE_FILE),
        F.col(RAW_KEY),
        _error(database, table).alias(ERROR),
    ]


def _unwrapped(parsed: Column, fields: Sequence[str], *extra: str) -> Column:
    """The event (or key) itself: the `payload` of a schema envelope, else the message."""
    own = [parsed[f].alias(f) for f in fields]
    wrapped = [parsed["payload"][f].alias(f) for f in fields]
    enveloped = parsed["schema"].isNotNull() & parsed["payload"].isNotNull()
    return F.when(parsed.isNull(), F.lit(None)).otherwise(
        F.struct(
            *[
                F.when(enveloped, w).otherwise(o).alias(f)
                for f, w, o in zip(fields, wrapped, own, strict=True)
            ],
            *[parsed[e].alias(e) for e in extra],
        )
    )


def binlog_position(source: Column, partition: Column, offset: Column) -> Column:
    """A string that sorts like (binlog file, position, snapshot before stream, row, Kafka).

    Binlog files are (base name, number) with the number zero-padded, so
    `mysql-bin.1000000` follows `mysql-bin.999999`. `pos` is where the row event starts
    and `row` the row inside it. Snapshot reads carry the binlog position the snapshot
    was consistent with, so at an equal position they sort before streamed changes.
    The Kafka partition and offset only break ties (the same event delivered twice).
    Positions of different servers (a failover without the same binlog) do not compare.
    """
    file = source["file"]
    number = F.regexp_extract(file, _BINLOG_FILE, 2)
    base = F.when(number != "", F.regexp_extract(file, _BINLOG_FILE, 1)).otherwise(file)
    phase = F.when(
        F.lower(source["snapshot"]).isin(*_STREAM_ORDERED) | source["snapshot"].isNull(),
        F.lit("1"),
    ).otherwise(F.lit("0"))
    return F.concat_ws(
        SEP,
        F.coalesce(base, F.lit("")),
        _padded(_long(number), 20),
        _padded(_long(source["pos"]), 20),
        phase,
        _padded(_long(source["row"]), 20),
        _padded(partition.cast("long"), 10),
        _padded(offset.cast("long"), 20),
    )


def _op(database: str, table: str) -> Column:
    op = F.col("r.op")
    mapped: Column = op  # unknown values stay as they came, with an error
    for name, code in _OPERATIONS.items():
        mapped = F.when(op == name, F.lit(code)).otherwise(mapped)
    return F.when(
        F.col(RAW).isNull() | _other_table(database, table), F.lit(OP_OTHER_TABLE)
    ).otherwise(mapped)


def _field(name: str) -> Column:
    deleted = F.coalesce(F.col(f"r.before.`{name}`"), F.col(f"k.`{name}`"))
    return F.when(F.col("r.op") == "d", deleted).otherwise(F.col(f"r.after.`{name}`"))


def _error(database: str, table: str) -> Column:
    op = F.col("r.op")
    source = F.col("r.source")
    return (
        F.when(F.col(RAW).isNull(), F.lit(None))  # tombstone: skipped
        .when(F.length(F.trim(F.col(RAW))) == 0, F.lit("empty record"))
        .when(F.col(f"r.{_CORRUPT}").isNotNull(), F.lit("malformed JSON record"))
        .when(
            op.isNull() & F.col("r.ddl").isNotNull(),
            F.lit("Debezium schema-change event (DDL), not a row change"),
        )
        .when(source.isNull(), F.lit("Debezium event without source"))
        .when(
            source["db"].isNull() | source["table"].isNull(),
            F.lit("Debezium event without source.db or source.table"),
        )
        .when(_other_table(database, table), F.lit(None))
        .when(op.isNull(), F.lit("Debezium event without op"))
        .when(op == "t", F.lit("Debezium truncate event: truncate the target table by hand"))
        .when(~op.isin(*_OPERATIONS), F.lit("unknown Debezium op"))
        .when(op.isin(*_UPSERTS) & F.col("r.after").isNull(), F.lit("Debezium event without after"))
        .when(
            (op == "d") & F.col("r.before").isNull() & F.col("k").isNull(),
            F.lit("Debezium delete event without before or key"),
        )
        .when(
            source["file"].isNull() | _long(source["pos"]).isNull() | _long(source["row"]).isNull(),
            F.lit("Debezium event without binlog position (source.file, pos, row)"),
        )
    )


def _other_table(database: str, table: str) -> Column:
    """True for an event naming another table; never true for one that names none."""
    source = F.col("r.source")
    return F.coalesce((source["db"] != database) | (source["table"] != table), F.lit(False))


def _long(text: Column | str) -> Column:
    """The integer a JSON number was written as; NULL when it is not one."""
    column = F.col(text) if isinstance(text, str) else text
    return F.when(column.rlike("^[0-9]{1,18}$"), column.cast("long"))


def _padded(number: Column, width: int) -> Column:
    return F.coalesce(F.lpad(number.cast("string"), width, "0"), F.lit(""))

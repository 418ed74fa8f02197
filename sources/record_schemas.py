"""Tables described by the change records themselves: Debezium events written by Kafka
Connect's JSON converter with schemas enabled carry each table's columns (the `after`
struct of the value's schema) and its primary key (the key's schema).

`RecordSchemas` is a `SourceCatalog` that knows what the batches showed it: the job
offers it the newest value and key of every table in a batch (runtime/batch.py) before
it resolves the batch's tables, so a table is discovered at its first change and a
column added at the source is followed from the first record that carries it.

Debezium's Connect types map to the database types of transforms/types.py, so a table
described this way is typed and decoded exactly as one described by `information_schema`:

| Connect type (logical name) | database type |
|---|---|
| any, with `__debezium.source.column.type` | that type, its length, its scale |
| boolean | boolean |
| int8, int16, int32, int64 | tinyint, smallint, int, bigint |
| float, double (FLOAT32, FLOAT64) | float, double |
| int32 `io.debezium.time.Date` | date |
| int64 `io.debezium.time.Timestamp` / `MicroTimestamp` | datetime(3) / datetime(6) |
| string `io.debezium.time.ZonedTimestamp` | timestamp |
| int64 `io.debezium.time.MicroTime` | time |
| int32 `io.debezium.time.Year` | year |
| string (`io.debezium.data.Json`, `Enum`, ...) | varchar |
| bytes `org.apache.kafka.connect.data.Decimal` | none: set `decimal.handling.mode=string` |

Without `column.propagate.source.type`, a DECIMAL written as text (`decimal.handling.mode=
string`) is a plain string in the schema: it is replicated as a string column. Set the
connector's `column.propagate.source.type` (or `datatype.propagate.source.type`) to keep
every column's exact type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sources.discovery import DiscoveredTable, SeenTables, UnsupportedColumnError
from transforms.types import DatabaseColumn

__all__ = ["RecordSchemas", "debezium_table"]

_SOURCE_TYPE = "__debezium.source.column.type"
_SOURCE_LENGTH = "__debezium.source.column.length"
_SOURCE_SCALE = "__debezium.source.column.scale"
_LOGICAL = {
    "io.debezium.time.Date": ("date", None),
    "io.debezium.time.Timestamp": ("datetime", 3),
    "io.debezium.time.MicroTimestamp": ("datetime", 6),
    "io.debezium.time.ZonedTimestamp": ("timestamp", None),
    "io.debezium.time.MicroTime": ("time", None),
    "io.debezium.time.Time": ("time", None),
    "io.debezium.time.Year": ("year", None),
}
_PLAIN = {
    "boolean": "boolean",
    "int8": "tinyint",
    "int16": "smallint",
    "int32": "int",
    "int64": "bigint",
    "float": "float",  # the JSON converter's names of Connect's FLOAT32 and FLOAT64
    "double": "double",
    "string": "varchar",
    "bytes": "blob",
}
_PRECISE_DECIMAL = "org.apache.kafka.connect.data.Decimal"


def debezium_table(
    schema: str, table: str, value_schema: Mapping[str, Any], key_schema: Mapping[str, Any] | None
) -> DiscoveredTable:
    """The table a Debezium envelope's schema (and its key's schema) describes.

    Raises UnsupportedColumnError naming the column and the connector setting to change.
    """
    image = _field(value_schema, "after") or _field(value_schema, "before")
    if image is None:
        raise UnsupportedColumnError("the value's schema has no `after` or `before` struct")
    columns = tuple(_column(f) for f in image.get("fields", []))
    keys = tuple(str(f["field"]) for f in (key_schema or {}).get("fields", []))
    return DiscoveredTable(schema, table, columns, keys)


def _field(struct: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    for field in struct.get("fields", []):
        if field.get("field") == name and field.get("type") == "struct":
            return field  # type: ignore[no-any-return]
    return None


def _column(field: Mapping[str, Any]) -> DatabaseColumn:
    name = str(field["field"])
    parameters = field.get("parameters") or {}
    source_type = parameters.get(_SOURCE_TYPE)
    if source_type:
        return _declared(name, str(source_type), parameters)
    logical = field.get("name")
    if logical == _PRECISE_DECIMAL:
        raise UnsupportedColumnError(
            f"column {name}: DECIMAL written as bytes; set the connector's "
            "decimal.handling.mode=string"
        )
    if logical in _LOGICAL:
        kind, precision = _LOGICAL[logical]
        return DatabaseColumn(name, kind, kind, precision)
    plain = _PLAIN.get(str(field.get("type")))
    if plain is None:
        raise UnsupportedColumnError(f"column {name}: Connect type {field.get('type')!r}")
    return DatabaseColumn(name, plain, plain)


def _declared(name: str, source_type: str, parameters: Mapping[str, Any]) -> DatabaseColumn:
    """The column as the database declared it: `DECIMAL` + length 10 + scale 2, ..."""
    words = source_type.lower().split()
    kind = words[0]
    length = _int(parameters.get(_SOURCE_LENGTH))
    scale = _int(parameters.get(_SOURCE_SCALE))
    sizes = ",".join(str(n) for n in (length, scale) if n is not None)
    full = f"{kind}({sizes})" if sizes else kind
    if "unsigned" in words:
        full += " unsigned"
    return DatabaseColumn(name, kind, full, length, scale)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class RecordSchemas(SeenTables):
    """A `SourceCatalog` of the tables whose records the batches have shown."""

    def offer(
        self, schema: str, table: str, messages: Sequence[tuple[str | None, str | None]]
    ) -> None:
        """A batch's newest messages (value, key) of a table, one per Kafka partition: the
        one latest in the binlog describes the table."""
        if not messages:
            return
        value, key = max(messages, key=lambda m: _binlog_position(m[0]))
        envelope = _envelope(value)
        if envelope is None:
            if (schema, table) not in self._tables:
                self._problems[(schema, table)] = (
                    "its records carry no schema: set the connector's "
                    "value.converter.schemas.enable=true, or source.database"
                )
            return
        self._learn(schema, table, lambda: debezium_table(schema, table, envelope, _envelope(key)))


_BINLOG_NUMBER = re.compile(r"\.([0-9]+)$")


def _binlog_position(message: str | None) -> tuple[int, int, int]:
    """(binlog file number, position, row) of an enveloped event; (-1, -1, -1) if none."""
    try:
        source = json.loads(message or "")["payload"]["source"]
        number = _BINLOG_NUMBER.search(str(source["file"]))
        return (int(number.group(1)) if number else -1, int(source["pos"]), int(source["row"]))
    except (ValueError, TypeError, KeyError):
        return (-1, -1, -1)


def _envelope(message: str | None) -> Mapping[str, Any] | None:
    """The `schema` of a JSON converter message with schemas enabled; None otherwise."""
    if not message:
        return None
    try:
        parsed = json.loads(message)
    except ValueError:
        return None
    if isinstance(parsed, dict) and isinstance(parsed.get("schema"), dict) and "payload" in parsed:
        return parsed["schema"]  # type: ignore[no-any-return]
    return None

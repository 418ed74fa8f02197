"""Type the records of many tables with ONE program: each table's columns are data.

`coerce_types` builds a select per table, and Spark analyses, compiles and runs each
table's part apart: a fixed cost a table whatever its rows (docs/benchmarks.md, *What a
table costs*). Here the tables' columns, types, keys and limits sit in one map literal,
looked up by the record's table: the program is the same for 1 table or 200; it grows
with the widest table and the distinct (type, encoding) pairs, not with the tables.

A record's fields come as text in `c0` .. `c<W-1>` (transforms/dms_csv.py
`decode_dms_csv_widths`). Each is decoded to its column's type by `decode_value` and
refused for the same reasons in the same order as `coerce_types` refuses it (same
`_error`); the typed value is then written back as the text the warehouse's staging reads
(`warehouse_text`): what the target receives is the typed value, as the per-table path
sends it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.coerce import invalid_utf8, record_error, unknown_operation
from transforms.dms_csv import field_name
from transforms.names import APPLIED_OPS, ERROR, OP, OP_LOAD, POS, REPLICA, SEQ
from transforms.sequence import encode_sequence
from transforms.types import Encoding, SourceColumn, decode_value, sql_string

__all__ = [
    "KEY",
    "TIMESTAMP_TEXT",
    "VALUES",
    "TextTable",
    "text_changes",
    "typed_as_text",
    "warehouse_text",
]

KEY = "__key"  # the record's key columns, as text equal exactly when the keys are
VALUES = "__values"  # the record's target columns, in order, as text
TIMESTAMP_TEXT = "yyyy-MM-dd HH:mm:ss.SSSSSS"  # in the session's time zone (UTC)

_META = "__table_meta"
_TEXT = "__text{}"  # a field's text, once typed
_NAMES = "\x01"  # between a table's field names in its description
_PLACE = "{:04d}"  # a field's 1-based place, in a table's description
_KEYS, _EVERY, _FIELDS = "__keys", "__every", "__fields"  # a record's arrays to pick from


@dataclass(frozen=True)
class TextTable:
    """A table as the one program types it."""

    name: str  # the value of the records' table column
    columns: tuple[SourceColumn, ...]  # the record's fields, in order
    keys: tuple[str, ...]
    output: tuple[str, ...]  # the target's columns, in order (a subset of `columns`)
    max_string_bytes: int | None = None

    @property
    def in_field_order(self) -> bool:
        """Whether its target columns come in the order of its fields, as the one program
        gives them (a table whose do not is typed by a query of its own)."""
        names = [c.name for c in self.columns]
        return [n for n in names if n in self.output] == list(self.output)


def warehouse_text(value: Column, spark_type: str) -> Column:
    """A typed value as the text the warehouse reads back into its column's type: a
    timestamp in the session's time zone (UTC; as a Python datetime it would be shifted
    to the executor's local time zone), anything else as Spark writes it."""
    if spark_type == "timestamp":
        return F.date_format(value, TIMESTAMP_TEXT)
    return value.cast("string")


def typed_as_text(tables: Sequence[TextTable], table: str) -> Callable[[DataFrame], DataFrame]:
    """Records of `tables` (column `table` names each record's) with `_op`, `_error`,
    `_raw` and their fields `c0` .. -> the fields replaced by `__key` and `__values`
    (text), `_error` with every reason the record is refused for. A record of a table
    not in `tables` gets NULL arrays; callers keep only theirs. A table's target columns
    and keys are taken in field order (`TextTable.in_field_order`)."""
    specs = sorted({(c.type, c.encoding) for t in tables for c in t.columns})
    width = max(len(t.columns) for t in tables)
    most_keys = max(len(t.keys) for t in tables)
    most_out = max(len(t.output) for t in tables)
    meta = _meta_literal(tables, specs, width)

    @cache
    def columns() -> tuple[list[Column], list[Column], list[Column]]:
        """The three selects' new columns, built once (hundreds of calls into the JVM for
        wide tables): each field's text, once a record (then read by name: an expression
        used in several places would be evaluated in each); the arrays the keys and values
        are picked from; then `__key`, `__values` and `_error`. No lambda: Spark runs a
        higher-order function without generated code, and the two picks and the key check
        as lambdas made the decoding twice as long (docs/benchmarks.md)."""
        described = F.element_at(F.expr(meta), F.col(table)).alias(_META)
        texts = [_text(j, specs).alias(_TEXT.format(j)) for j in range(width)]
        keys, reasons = [], [invalid_utf8()]
        type_names = F.array(*[F.lit(kind) for kind, _ in specs])
        for j in range(width):
            key, why = _reasons(j, type_names)
            keys.append(key)
            reasons += why
        row = F.col(_META)
        applied = F.col(OP).isin(*APPLIED_OPS, OP_LOAD)
        arrays = [
            F.array(*keys).alias(_KEYS),
            F.array(*[F.col(_TEXT.format(j)) for j in range(width)]).alias(_EVERY),
            F.array(*[F.col(field_name(j)) for j in range(width)]).alias(_FIELDS),
        ]
        reasons.append(unknown_operation())
        for place in _places(row["keys"], most_keys):  # the field as received
            missing = F.element_at(F.col(_FIELDS), place).isNull()
            named = F.concat(F.lit("key column "), _name(place), F.lit(" is null"))
            reasons.append(F.when(applied & place.isNotNull() & missing, named))
        return (
            [described, *texts],
            arrays,
            [
                _picked(F.col(_KEYS), row["key_fields"], most_keys).alias(KEY),
                _picked(F.col(_EVERY), row["out_fields"], most_out).alias(VALUES),
                record_error(reasons).alias(ERROR),
            ],
        )

    def transform(records: DataFrame) -> DataFrame:
        typed, arrays, finished = columns()
        dropped = {field_name(j) for j in range(width)} | {ERROR}
        kept = [F.col(c) for c in records.columns if c not in dropped]
        return records.select("*", *typed).select("*", *arrays).select(*kept, *finished)

    return transform


def _places(places: Column, most: int) -> list[Column]:
    """The 1-based places written in `places` (`_PLACE` digits each), as `most` columns:
    NULL past the string's end."""
    digits = len(_PLACE.format(0))
    texts = [F.substring(places, digits * k + 1, digits) for k in range(most)]
    return [F.when(F.length(places) > digits * k, t).cast("int") for k, t in enumerate(texts)]


def _picked(values: Column, places: Column, most: int) -> Column:
    """The elements of `values` at the places written in `places`, in that order."""
    picked = [F.element_at(values, place) for place in _places(places, most)]
    count = (F.length(places) / len(_PLACE.format(0))).cast("int")
    return F.slice(F.array(*picked), 1, count)


def text_changes(records: DataFrame) -> DataFrame:
    """Records of many tables typed by `typed_as_text` (each naming its table in `_replica`)
    -> their canonical changes (transforms/canonical.py) as text: `_replica`, `__key`,
    `__values` (the target's columns, then `_op`, `_seq` and `_pos`), `_op`, `_seq`, `_pos`. For
    tables without derived columns, protection rules, `sequence_by` or `commit_ts`: a full
    load's row is an insert, and the sequence is empty."""
    good = records.where(F.col(ERROR).isNull() & F.col(OP).isin(*APPLIED_OPS, OP_LOAD))
    op = F.when(F.col(OP) == OP_LOAD, F.lit("I")).otherwise(F.col(OP))
    changes = good.withColumn(OP, op).transform(encode_sequence([]))
    bookkeeping = F.array(F.col(OP), F.col(SEQ), F.col(POS))
    return changes.select(
        REPLICA, KEY, F.concat(F.col(VALUES), bookkeeping).alias(VALUES), OP, SEQ, POS
    )


def _text(j: int, specs: Sequence[tuple[str, Encoding]]) -> Column:
    """Field `j` of every record decoded to its column's type and written back as text
    (NULL when it does not decode): a CASE on the (type, encoding) its table gives it."""
    name = field_name(j)
    spec = _spec(j)
    text = None
    for k, (kind, encoding) in enumerate(specs):
        column = SourceColumn(name, kind, encoding)
        plain = (kind, encoding) == ("string", "text")
        as_text = warehouse_text(F.col(name) if plain else decode_value(name, column), kind)
        is_k = spec == f"{k:03d}"
        text = F.when(is_k, as_text) if text is None else text.when(is_k, as_text)
    assert text is not None, "no column type to type with"
    return text


def _reasons(j: int, type_names: Column) -> tuple[Column, list[Column]]:
    """Field `j`'s key text (equal exactly when the keys are: -0.0 is 0.0), and why it is
    refused: it does not decode (its text NULL, its value not), or a string is longer than
    the table's limit in bytes. `type_names`: the type of each (type, encoding) index."""
    row, value, text = F.col(_META), F.col(field_name(j)), F.col(_TEXT.format(j))
    name, kind = _name(F.lit(j + 1)), F.substring(row["kinds"], j + 1, 1)
    floating = (text.cast("double") + F.lit(0.0)).cast("string")
    key = F.when(kind == "f", floating).otherwise(text)
    type_name = F.element_at(type_names, _spec(j).cast("int") + 1)
    invalid = F.concat(F.lit("column "), name, F.lit(": not a valid "), type_name)
    size = F.octet_length(value)
    over = F.concat(
        F.lit("column "),
        name,
        F.lit(": "),
        size.cast("string"),
        F.lit(" bytes, over max_string_bytes "),
        row["limit"].cast("string"),
    )
    too_long = (kind == "s") & row["limit"].isNotNull() & (size > row["limit"])
    return key, [F.when(value.isNotNull() & text.isNull(), invalid), F.when(too_long, over)]


def _meta_literal(
    tables: Sequence[TextTable], specs: Sequence[tuple[str, Encoding]], width: int
) -> str:
    """Every table's description, as one SQL map literal (one call into the JVM; Spark
    folds it to a constant), each a few strings read by a field's place, so that the
    literal stays small at hundreds of wide tables (its arrays took Spark a second a batch
    to fold at 200 tables of 40 columns): its fields' (type, encoding) indices, three
    digits each; a character a field: `f` a float, `s` a string; its field names; the
    1-based places (four digits each) of its keys in the config's order, of its keys in
    field order and of its target columns; its limit of a string's bytes."""
    index = {spec: k for k, spec in enumerate(specs)}
    entries = []
    for t in tables:
        names = [c.name for c in t.columns]
        kinds = ["f" if c.type in ("float", "double") else "s" if c.type == "string" else "."
                 for c in t.columns]  # fmt: skip
        fields = {
            "specs": "".join(f"{index[(c.type, c.encoding)]:03d}" for c in t.columns),
            "kinds": "".join(kinds),
            "names": _NAMES.join(names),
            "keys": "".join(_PLACE.format(names.index(k) + 1) for k in t.keys),
            "key_fields": "".join(_PLACE.format(i + 1) for i, n in enumerate(names) if n in t.keys),
            "out_fields": "".join(
                _PLACE.format(i + 1) for i, n in enumerate(names) if n in t.output
            ),
        }
        described = ", ".join(f"'{k}', {sql_string(v)}" for k, v in fields.items())
        limit = "CAST(NULL AS INT)" if t.max_string_bytes is None else str(t.max_string_bytes)
        entries.append(f"{sql_string(t.name)}, named_struct({described}, 'limit', {limit})")
    return f"map({', '.join(entries)})"


def _spec(j: int) -> Column:
    """The (type, encoding) index of field `j` of the record's table, as its 3 digits."""
    return F.substring(F.col(_META)["specs"], 3 * j + 1, 3)


def _name(place: Column) -> Column:
    """The name of the record's table's field at 1-based `place`."""
    return F.element_at(F.split(F.col(_META)["names"], _NAMES), place)

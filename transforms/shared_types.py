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
_META_TYPE = (
    "struct<specs: array<int>, names: array<string>, types: array<string>, "
    "keys: array<int>, out: array<int>, limit: int>"
)


@dataclass(frozen=True)
class TextTable:
    """A table as the one program types it."""

    name: str  # the value of the records' table column
    columns: tuple[SourceColumn, ...]  # the record's fields, in order
    keys: tuple[str, ...]
    output: tuple[str, ...]  # the target's columns, in order (a subset of `columns`)
    max_string_bytes: int | None = None


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
    not in `tables` gets NULL arrays; callers keep only theirs."""
    specs = sorted({(c.type, c.encoding) for t in tables for c in t.columns})
    width = max(len(t.columns) for t in tables)
    meta = _meta_literal(tables, specs, width)

    def transform(records: DataFrame) -> DataFrame:
        described = records.withColumn(_META, F.element_at(F.expr(meta), F.col(table)))
        texts, keys, reasons = [], [], [invalid_utf8()]
        for j in range(width):
            text, key, why = _field(j, specs)
            texts.append(text)
            keys.append(key)
            reasons += why
        row = F.col(_META)
        applied = F.col(OP).isin(*APPLIED_OPS, OP_LOAD)
        every_text = F.array(*texts)
        fields = F.array(*[F.col(field_name(j)) for j in range(width)])
        reasons.append(unknown_operation())
        reasons.append(  # the field as received, as `coerce_types` checks it
            F.transform(
                row["keys"],
                lambda p: F.when(
                    applied & F.element_at(fields, p).isNull(),
                    F.concat(
                        F.lit("key column "), F.element_at(row["names"], p), F.lit(" is null")
                    ),
                ),
            )
        )
        dropped = {field_name(j) for j in range(width)} | {ERROR}
        return described.select(
            *[F.col(c) for c in records.columns if c not in dropped],
            F.transform(row["keys"], lambda p: F.element_at(F.array(*keys), p)).alias(KEY),
            F.transform(row["out"], lambda p: F.element_at(every_text, p)).alias(VALUES),
            record_error(reasons).alias(ERROR),
        )

    return transform


def text_changes(records: DataFrame) -> DataFrame:
    """Records of many tables typed by `typed_as_text` (each naming its table in `_replica`)
    -> their canonical changes (transforms/canonical.py) as text: `_replica`, `__key`,
    `__values` (the target's columns, then `_op`, `_seq` and `_pos`), `_seq`, `_pos`. For
    tables without derived columns, protection rules, `sequence_by` or `commit_ts`: a full
    load's row is an insert, and the sequence is empty."""
    good = records.where(F.col(ERROR).isNull() & F.col(OP).isin(*APPLIED_OPS, OP_LOAD))
    op = F.when(F.col(OP) == OP_LOAD, F.lit("I")).otherwise(F.col(OP))
    changes = good.withColumn(OP, op).transform(encode_sequence([]))
    bookkeeping = F.array(F.col(OP), F.col(SEQ), F.col(POS))
    return changes.select(
        REPLICA, KEY, F.concat(F.col(VALUES), bookkeeping).alias(VALUES), SEQ, POS
    )


def _field(j: int, specs: Sequence[tuple[str, Encoding]]) -> tuple[Column, Column, list[Column]]:
    """Field `j` of every record: its text, its key text and its reasons, each a CASE on
    the (type, encoding) the record's table gives the field."""
    name = field_name(j)
    row = F.col(_META)
    spec = row["specs"][j]
    value = F.col(name)
    text = key = bad = long = None
    for k, (kind, encoding) in enumerate(specs):
        column = SourceColumn(name, kind, encoding)
        decoded = decode_value(name, column) if (kind, encoding) != ("string", "text") else value
        is_k = spec == k
        as_text = warehouse_text(decoded, kind)
        as_key = (decoded + F.lit(0.0)).cast("string") if kind in ("float", "double") else as_text
        text = F.when(is_k, as_text) if text is None else text.when(is_k, as_text)
        key = F.when(is_k, as_key) if key is None else key.when(is_k, as_key)
        if (kind, encoding) != ("string", "text"):
            refused = value.isNotNull() & decoded.isNull()
            bad = F.when(is_k, refused) if bad is None else bad.when(is_k, refused)
        if kind == "string":
            long = is_k if long is None else long | is_k
    invalid = F.concat(F.lit("column "), row["names"][j], F.lit(": not a valid "), row["types"][j])
    reasons = [F.when(bad, invalid)] if bad is not None else []
    if long is not None:
        size = F.octet_length(value)
        over = F.concat(
            F.lit("column "),
            row["names"][j],
            F.lit(": "),
            size.cast("string"),
            F.lit(" bytes, over max_string_bytes "),
            row["limit"].cast("string"),
        )
        reasons.append(F.when(long & row["limit"].isNotNull() & (size > row["limit"]), over))
    assert text is not None and key is not None, "no column type to type with"
    return text, key, reasons


def _meta_literal(
    tables: Sequence[TextTable], specs: Sequence[tuple[str, Encoding]], width: int
) -> str:
    """Every table's description, as one SQL map literal (one call into the JVM; Spark
    folds it to a constant): its fields' spec indices, names and types, padded with
    NULLs to `width`, its key and target columns as 1-based field positions."""
    index = {spec: k for k, spec in enumerate(specs)}
    entries = []
    for t in tables:
        names = [c.name for c in t.columns]
        pad = ["NULL"] * (width - len(names))
        fields = [
            f"array({', '.join([str(index[(c.type, c.encoding)]) for c in t.columns] + pad)})",
            f"array({', '.join([sql_string(n) for n in names] + pad)})",
            f"array({', '.join([sql_string(c.type) for c in t.columns] + pad)})",
            f"array({', '.join(str(names.index(k) + 1) for k in t.keys)})",
            f"array({', '.join(str(names.index(o) + 1) for o in t.output)})",
            "NULL" if t.max_string_bytes is None else str(t.max_string_bytes),
        ]
        entries.append(f"{sql_string(t.name)}, CAST(struct({', '.join(fields)}) AS {_META_TYPE})")
    return f"map({', '.join(entries)})"

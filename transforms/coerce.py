"""Type decoded records by the table's declared schema and validate them."""

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Protocol

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from transforms.names import APPLIED_OPS, ERROR, OP, OP_LOAD, RAW, SKIPPED_OPS
from transforms.types import SourceColumn, decode_value


class Declared(Protocol):
    """A column as a config declares it: a name and a Spark type, its value as text."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...


def coerce_types(
    columns: Sequence[SourceColumn | Declared],
    keys: Sequence[str],
    max_string_bytes: int | None = None,
) -> Callable[[DataFrame], DataFrame]:
    """Cast string fields to their declared types; explain every failure in `_error`.

    A failed cast never raises: the record keeps its raw form and goes to quarantine
    with one reason per bad field (or only the decoding reason if it could not be decoded).
    Also rejected: a raw record with bytes that are not UTF-8 (Spark keeps them as they
    came, and they would reach the target as corrupt text) and, with `max_string_bytes`,
    a string value longer than that in UTF-8 bytes. A discovered column carries how its
    transport writes it (`SourceColumn.encoding`: epoch days or microseconds, ...).
    """
    specs = [c if isinstance(c, SourceColumn) else SourceColumn(c.name, c.type) for c in columns]

    @lru_cache(maxsize=4)
    def plan(fields: tuple[tuple[str, bool], ...]) -> list[Column]:
        """The select of an input whose columns are `fields` (name, read as text)."""
        as_text = dict(fields)
        reasons: list[Column] = []
        if RAW in as_text:
            reasons.append(invalid_utf8())
        typed: list[Column] = []
        for spec in specs:
            value, why = _typed(as_text[spec.name], spec, max_string_bytes)
            typed.append(value.alias(spec.name))
            reasons += why
        reasons += _operation_reasons(keys)
        declared = {spec.name for spec in specs} | {OP, ERROR}
        return [
            F.col(OP),
            *typed,
            *[F.col(f"`{name}`") for name, _ in fields if name not in declared],
            record_error(reasons).alias(ERROR),
        ]

    def transform(df: DataFrame) -> DataFrame:
        # Built at the first batch and reused while the input keeps its shape.
        fields = tuple((f.name, isinstance(f.dataType, StringType)) for f in df.schema.fields)
        return df.select(*plan(fields))

    return transform


def invalid_utf8() -> Column:
    """The reason of a raw record (`_raw`) whose bytes are not UTF-8."""
    # Re-encoding goes through Java strings, which replace invalid bytes.
    raw = F.col(RAW)
    return F.when(F.encode(raw, "UTF-8") != raw.cast("binary"), F.lit("invalid UTF-8"))


def record_error(reasons: Sequence[Column]) -> Column:
    """A record's `_error`: its decoding reason if it has one (a record that could not be
    decoded has only that one), else its typing `reasons` (NULLs left out; arrays of
    reasons flattened), NULL when there is none."""
    error = F.when(F.col(ERROR).isNotNull(), F.col(ERROR)).otherwise(F.concat_ws("; ", *reasons))
    return F.when(error == "", F.lit(None)).otherwise(error)


def unknown_operation() -> Column:
    """The reason of a record whose `_op` is no operation the job knows."""
    op = F.col(OP)
    known = op.isin(*APPLIED_OPS, OP_LOAD, *SKIPPED_OPS)
    return F.when(op.isNull() | ~known, F.lit("unknown operation"))


def _typed(
    as_text: bool, spec: SourceColumn, max_string_bytes: int | None
) -> tuple[Column, list[Column]]:
    """The column as its declared type, and the reasons a value can be refused; `as_text`:
    the input holds it as text."""
    source = F.col(f"`{spec.name}`")
    reasons: list[Column] = []
    if as_text and (spec.type != "string" or spec.encoding != "text"):
        value = decode_value(spec.name, spec)
        reasons.append(
            F.when(
                source.isNotNull() & value.isNull(),
                F.lit(f"column {spec.name}: not a valid {spec.type}"),
            )
        )
    else:
        value = source.cast(spec.type)
    if max_string_bytes is not None and spec.type == "string":
        size = F.octet_length(source)
        reasons.append(
            F.when(
                size > max_string_bytes,
                F.concat(
                    F.lit(f"column {spec.name}: "),
                    size.cast("string"),
                    F.lit(f" bytes, over max_string_bytes {max_string_bytes}"),
                ),
            )
        )
    return value, reasons


def _operation_reasons(keys: Sequence[str]) -> list[Column]:
    """An unknown operation, or a change without its key."""
    op = F.col(OP)
    reasons = [unknown_operation()]
    for key in keys:
        reasons.append(
            F.when(
                op.isin(*APPLIED_OPS, OP_LOAD) & F.col(f"`{key}`").isNull(),
                F.lit(f"key column {key} is null"),
            )
        )
    return reasons

"""The conditions of a MERGE between a target aliased `t` and a source aliased `s`.

Shared by the engines that MERGE (Delta, Iceberg). Conditions that name only target
columns (a key range, partition values) are what a table format uses to skip files
before it reads any.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from operator import and_
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, StructField, StructType, TimestampType

from transforms.types import quote, sql_string

__all__ = [
    "in_partitions",
    "in_partitions_pushed",
    "quote",
    "same_keys",
    "source",
    "target",
    "within",
]


def target(name: str) -> Column:
    return F.col(f"t.{quote(name)}")


def source(name: str) -> Column:
    return F.col(f"s.{quote(name)}")


def same_keys(keys: Sequence[str]) -> Column:
    return reduce(and_, [target(k) == source(k) for k in keys])


def within(column: Column, low: Any, high: Any) -> Column:
    """Between two literal bounds: files whose min/max statistics lie outside are skipped."""
    return column.between(F.lit(low), F.lit(high))


def in_partitions(
    partitions: StructType, values: Sequence[Sequence[Any]], alias: str | None = "t"
) -> Column:
    """The rows of the listed partitions: one tuple of values per partition, of the
    columns `partitions` names (of the table aliased `alias`: the MERGE target's by
    default; None, of the frame it filters).

    One `struct IN (...)` whatever the number of partitions (Spark turns a long list
    into a hash-set look-up); NULL partition values match. No partition: nothing matches.
    The condition is SQL text, one call into the JVM: built as Column objects, each value
    cost three calls, and one 100,000-change Delta batch made 25,000 of them (4.4 s).
    """
    if not values:
        return F.lit(False)
    fields = partitions.fields
    row = _struct([(f.name, _name(f.name, alias)) for f in fields])
    listed = ", ".join(
        _struct([(f.name, _value(v, f.dataType)) for f, v in zip(fields, tuple_, strict=True)])
        for tuple_ in values
    )
    return F.expr(f"{row} IN ({listed})")


def in_partitions_pushed(
    partitions: StructType, values: Sequence[Sequence[Any]], alias: str | None = "t"
) -> Column:
    """`in_partitions` in the form Spark hands to a data source as filters: per value of
    the leading partition columns, their equalities AND the last column `IN` its values,
    OR-ed. Iceberg skips files by such a filter, but not by a `struct IN`, which it never
    receives: with that, a MERGE read every file of the key range, and its cost grew with
    the table. One OR per group, not per partition, and an unparenthesized chain (Spark
    balances it): 3,000 day partitions as 3,000 nested ORs took Spark 14.7 s to parse and
    most of a 1 GB heap to plan (docs/engines.md, *Iceberg*)."""
    if not values:
        return F.lit(False)
    *leading, last = partitions.fields
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for tuple_ in values:
        groups.setdefault(tuple(tuple_[:-1]), []).append(tuple_[-1])
    terms = []
    for prefix, lasts in groups.items():
        known = list(dict.fromkeys(v for v in lasts if v is not None))
        options = []
        if known:
            listed = ", ".join(_value(v, last.dataType) for v in known)
            options.append(f"{_name(last.name, alias)} IN ({listed})")
        if len(known) < len(lasts):
            options.append(f"{_name(last.name, alias)} IS NULL")
        equal = [_equals(f, v, alias) for f, v in zip(leading, prefix, strict=True)]
        terms.append("(" + " AND ".join([*equal, "(" + " OR ".join(options) + ")"]) + ")")
    return F.expr(" OR ".join(terms))


def _equals(field: StructField, value: Any, alias: str | None) -> str:
    name = _name(field.name, alias)
    return f"{name} IS NULL" if value is None else f"{name} = {_value(value, field.dataType)}"


def _name(column: str, alias: str | None) -> str:
    return quote(column) if alias is None else f"{quote(alias)}.{quote(column)}"


def _struct(fields: Sequence[tuple[str, str]]) -> str:
    return "named_struct(" + ", ".join(f"{sql_string(n)}, {e}" for n, e in fields) + ")"


def _value(value: Any, kind: DataType) -> str:
    """A partition value as SQL text of the column's type, exactly as Spark gave it to
    Python: whole numbers and booleans as such, a timestamp by its microseconds since
    the epoch (as PySpark converts one), anything else (text, a date, a decimal) as its
    text cast to the type."""
    type_name = kind.simpleString()
    if value is None:
        return f"CAST(NULL AS {type_name})"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"CAST({value} AS {type_name})"
    if isinstance(kind, TimestampType):
        return f"timestamp_micros({kind.toInternal(value)})"
    return f"CAST({sql_string(str(value))} AS {type_name})"

"""Typed columns of many tables in ONE frame: each table's columns laid into shared slots.

A frame has one schema, and the tables of a database have theirs. Here a slot is a
column of one Spark type, shared by the tables: a table's k-th column of type T sits in
slot `(T, k)`. The frame has as many slots of a type as the table with most columns of
that type; it grows with the widest table and the distinct types, not with the tables.
Which value of a record fills a slot is data: a map literal from the table's name to the
places of its columns, looked up by the record's table, as transforms/shared_types.py
describes its tables. A reader of one table's rows takes its columns from its slots
(`SlotLayout.of_table`), already typed by Spark.

The values come as the text `typed_as_text` writes (transforms/shared_types.py
`warehouse_text`): Spark's own text of a typed value, which its cast reads back exactly
(a timestamp's in the session's time zone, as written).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.types import sql_string

__all__ = ["SlotLayout", "slot_layout", "typed_slots"]

_PLACES = "__slot_places"
_DIGITS = 4  # a place in a record's values, 1-based; 0: the table has no column there


@dataclass(frozen=True)
class SlotLayout:
    """The slots of a set of tables, and which slot holds each table's columns."""

    slots: tuple[tuple[str, str], ...]  # (slot column, Spark type), in order
    of_table: Mapping[str, tuple[str, ...]]  # a table's slot of each of its columns, in order


def slot_layout(tables: Mapping[str, Sequence[tuple[str, str]]]) -> SlotLayout:
    """The slots of `tables` ({table: its columns as (name, Spark type), in order})."""
    types = sorted({kind for columns in tables.values() for _, kind in columns})
    widest = {
        kind: max(sum(1 for _, k in columns if k == kind) for columns in tables.values())
        for kind in types
    }
    slots = tuple(
        (f"__slot{t}_{k}", kind) for t, kind in enumerate(types) for k in range(widest[kind])
    )
    of_table = {}
    for table, columns in tables.items():
        seen: dict[str, int] = {}
        names = []
        for _, kind in columns:
            names.append(f"__slot{types.index(kind)}_{seen.get(kind, 0)}")
            seen[kind] = seen.get(kind, 0) + 1
        of_table[table] = tuple(names)
    return SlotLayout(slots, of_table)


def typed_slots(layout: SlotLayout, table: str, values: str) -> Callable[[DataFrame], DataFrame]:
    """Records of the layout's tables (column `table` names each record's; `values`: its
    columns as text, in order, and possibly more after them) -> the same with a column of
    each slot, typed: NULL where the record's table has no column in it. A record of a
    table not in the layout gets NULL slots."""
    place = {name: n for n, (name, _) in enumerate(layout.slots)}
    entries = []
    for name, slots in layout.of_table.items():
        places = ["0" * _DIGITS] * len(layout.slots)
        for column, held in enumerate(slots):
            places[place[held]] = f"{column + 1:0{_DIGITS}d}"
        entries.append(f"{sql_string(name)}, {sql_string(''.join(places))}")
    described = F.element_at(F.expr(f"map({', '.join(entries)})"), F.col(table))

    def slot(n: int, kind: str) -> Column:
        at = F.substring(F.col(_PLACES), n * _DIGITS + 1, _DIGITS).cast("int")
        return F.when(at > 0, F.element_at(F.col(values), at)).cast(kind)

    def transform(records: DataFrame) -> DataFrame:
        with_places = records.withColumn(_PLACES, described)
        filled = [slot(n, kind).alias(name) for n, (name, kind) in enumerate(layout.slots)]
        return with_places.select(*records.columns, *filled)

    return transform

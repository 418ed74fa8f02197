"""A denormalized table: one fact table joined to its dimensions, kept by the warehouse.

    denormalize:
      - name: sport_event_activity
        from: {table: ticket_activity, as: a}
        joins:
          - {table: ticket, as: t, key: {ticket_id: a.ticket_id}}
          - {table: customer, as: c, key: {customer_id: a.purchased_by}}
        columns: {ticket_id: a.ticket_id, seat_level: t.seat_level, name: c.name}

Every join is a left join on the whole key of the joined table, so it adds no row
and drops none: a fact whose dimension row is missing is written with NULLs and
repaired when that row arrives. The denormalized table's key is the fact's key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

from pydantic import Field, field_validator

from config.base import Identifier, Strict

_REFERENCE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")


def reference(value: str) -> tuple[str, str]:
    """`alias.column` -> (alias, column)."""
    match = _REFERENCE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not alias.column")
    return match.group(1), match.group(2)


def _references(values: dict[str, str]) -> dict[str, str]:
    for value in values.values():
        reference(value)
    return values


class TableRef(Strict):
    """A replicated table and the alias the joins and columns use for it."""

    table: Identifier = Field(description="a replicated table (tables[].name)")
    alias: Identifier = Field(alias="as", description="its alias in joins and columns")


class Join(TableRef):
    """Left join `table` on its whole key: {key column: alias.column of an earlier table}.

    (Named `key`, not `on`: YAML reads a bare `on` as the boolean true.)
    """

    key: dict[Identifier, str] = Field(
        min_length=1,
        description="{key column of table: alias.column of an earlier table}, the whole key",
    )

    _check_key = field_validator("key")(_references)


class DenormalizedTable(Strict):
    """A warehouse table refreshed, key by key, whenever any of its tables changes."""

    name: Identifier = Field(description="the warehouse table to keep")
    fact: TableRef = Field(
        alias="from", description="{table, as}: the fact table; its key is this table's key"
    )
    joins: list[Join] = Field(
        default_factory=list, description="{table, as, key}: LEFT joins on each table's key"
    )
    columns: dict[Identifier, str] = Field(
        min_length=1, description="{name: alias.column}; the fact's key must be kept"
    )

    _check_columns = field_validator("columns")(_references)

    @property
    def tables(self) -> list[TableRef]:
        return [self.fact, *self.joins]


class _Columns(Protocol):
    @property
    def keys(self) -> list[str] | None: ...

    @property
    def output_columns(self) -> list[str]: ...


def check_denormalized(
    spec: DenormalizedTable, tables: Mapping[str, _Columns], *, taken: set[str], where: str
) -> None:
    """Every table, alias and column resolves; joins use whole keys; the fact key is kept."""
    if spec.name in taken:
        raise ValueError(f"{where}.name: {spec.name!r} is already a replicated table")
    aliases: dict[str, _Columns] = {}
    for position, ref in enumerate(spec.tables):
        path = f"{where}.from" if position == 0 else f"{where}.joins.{position - 1}"
        if ref.table not in tables:
            raise ValueError(f"{path}.table: {ref.table!r} is not among tables")
        if ref.alias in aliases:
            raise ValueError(f"{path}.as: alias {ref.alias!r} is used twice")
        table = tables[ref.table]
        if isinstance(ref, Join):
            if set(ref.key) != set(table.keys or []):
                raise ValueError(
                    f"{path}.key: must name exactly the keys of {ref.table} {table.keys}, "
                    f"got {sorted(ref.key)}"
                )
            for column, value in ref.key.items():
                _resolve(value, aliases, f"{path}.key.{column}")
        aliases[ref.alias] = table
    for name, value in spec.columns.items():
        _resolve(value, aliases, f"{where}.columns.{name}")
    fact = tables[spec.fact.table]
    for key in fact.keys or []:
        if spec.columns.get(key) != f"{spec.fact.alias}.{key}":
            raise ValueError(
                f"{where}.columns: the fact's key must be kept as {key}: {spec.fact.alias}.{key}"
            )


def _resolve(value: str, aliases: Mapping[str, _Columns], path: str) -> None:
    alias, column = reference(value)
    if alias not in aliases:
        raise ValueError(f"{path}: alias {alias!r} is not defined before it is used")
    if column not in aliases[alias].output_columns:
        raise ValueError(f"{path}: {column!r} is not a column of {alias}")

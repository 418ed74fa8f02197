"""The SQL that keeps a denormalized table in step with the tables it joins.

Inside the merge transaction of a replicated table `x`, after its accepted changes
are applied: find the fact keys whose joined row involves a changed key of `x`,
delete their denormalized rows and insert them again from the fact table left
joined to its dimensions. A fact whose dimension row is missing gets NULLs and is
repaired by the batch that brings the dimension row; a dimension change reaches
every row that references it; a deleted fact loses its row.

The tables of one source batch share one transaction, which takes every lock first
(sinks/redshift/batch.py); batches of different queries (a files table with a landing
folder of its own) may run concurrently: each refresh locks the denormalized table, so
refreshes are serial and each sees the other's commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from config.denormalize import DenormalizedTable, reference
from sinks.redshift.dialect import Column, Dialect
from sinks.redshift.statements import Statement, quote


@dataclass(frozen=True)
class _Join:
    table: str
    alias: str
    key: tuple[tuple[str, str], ...]  # (column of table, alias.column it equals)


@dataclass(frozen=True)
class Denormalized:
    """One denormalized table, resolved against the replicated tables' keys and types."""

    name: str
    fact: str
    fact_alias: str
    fact_keys: tuple[str, ...]
    joins: tuple[_Join, ...]
    columns: tuple[tuple[str, str], ...]  # (name, alias.column)
    types: Mapping[str, str]  # column name -> Spark type

    @classmethod
    def resolve(
        cls,
        spec: DenormalizedTable,
        keys: Mapping[str, Sequence[str]],
        types: Mapping[str, Mapping[str, str]],
    ) -> Denormalized:
        """`keys` and `types` (column -> Spark type) of every replicated table by name."""
        table_of = {ref.alias: ref.table for ref in spec.tables}
        column_types = {}
        for name, value in spec.columns.items():
            alias, column = reference(value)
            column_types[name] = types[table_of[alias]][column]
        return cls(
            name=spec.name,
            fact=spec.fact.table,
            fact_alias=spec.fact.alias,
            fact_keys=tuple(keys[spec.fact.table]),
            joins=tuple(_Join(j.table, j.alias, tuple(j.key.items())) for j in spec.joins),
            columns=tuple(spec.columns.items()),
            types=column_types,
        )

    def create(self, dialect: Dialect, schema: str) -> Statement:
        columns = [Column(name, self.types[name]) for name, _ in self.columns]
        return dialect.create_target(schema, self.name, columns, self.fact_keys)

    def lock(self, dialect: Dialect, schema: str) -> Statement:
        return dialect.lock(schema, self.name)

    def refresh(
        self, schema: str, table: str, keys: Sequence[str], accepted: str
    ) -> list[Statement]:
        """Statements that refresh the rows touched by `accepted` changes of `table`; the
        INSERT's affected rows are the rows refreshed (`tally`)."""
        d = f"{quote(schema)}.{quote(self.name)}"
        affected = quote(f"{self.name}__affected")
        fact_keys = ", ".join(f"{quote(self.fact_alias)}.{quote(k)}" for k in self.fact_keys)
        sources = []
        if table == self.fact:
            sources.append(f"SELECT {', '.join(quote(k) for k in keys)} FROM {quote(accepted)}")
        for position, join in enumerate(self.joins):
            if join.table != table:
                continue
            matches = " AND ".join(
                f"x.{quote(column)} = {_ref(value)}" for column, value in join.key
            )
            sources.append(
                f"SELECT {fact_keys} FROM {self._joined(schema, self.joins[:position])} "
                f"JOIN {quote(accepted)} x ON {matches}"
            )
        if not sources:
            return []
        same_key = " AND ".join(f"{d}.{quote(k)} = f.{quote(k)}" for k in self.fact_keys)
        fact_matches = " AND ".join(
            f"{quote(self.fact_alias)}.{quote(k)} = f.{quote(k)}" for k in self.fact_keys
        )
        names = ", ".join(quote(name) for name, _ in self.columns)
        values = ", ".join(_ref(value) for _, value in self.columns)
        joined = self._joined(schema, self.joins, first=f"JOIN {affected} f ON {fact_matches}")
        return [
            Statement(f"CREATE TEMP TABLE {affected} AS {' UNION '.join(sources)}"),
            Statement(f"DELETE FROM {d} USING {affected} f WHERE {same_key}"),
            Statement(
                f"INSERT INTO {d} ({names}) SELECT {values} FROM {joined}", tally="refreshed"
            ),
            Statement(f"DROP TABLE {affected}"),
        ]

    def _joined(self, schema: str, joins: Sequence[_Join], first: str = "") -> str:
        parts = [f"{quote(schema)}.{quote(self.fact)} {quote(self.fact_alias)}"]
        if first:
            parts.append(first)
        for join in joins:
            on = " AND ".join(
                f"{quote(join.alias)}.{quote(column)} = {_ref(value)}" for column, value in join.key
            )
            parts.append(
                f"LEFT JOIN {quote(schema)}.{quote(join.table)} {quote(join.alias)} ON {on}"
            )
        return " ".join(parts)


def _ref(value: str) -> str:
    alias, column = reference(value)
    return f"{quote(alias)}.{quote(column)}"

"""A warehouse table's tables: the published table, its key table (or, SCD type 2, its
history and events), the ledger and the denormalized tables it feeds; created with its
engine (at start, or when a discovered table appears) and kept fitting the batches'
columns (a new source column is added, a widened one widened)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sinks.redshift.denormalize import Denormalized
from sinks.redshift.dialect import Column, Dialect, PostgresDialect
from sinks.redshift.statements import Executor
from transforms.names import DELETED_AT
from transforms.types import widens

__all__ = ["WarehouseTables"]

log = logging.getLogger("stream_cdc")


class WarehouseTables:
    """The tables of one warehouse table; the engine asks `ensure` at every batch."""

    def __init__(
        self,
        executor: Executor,
        dialect: Dialect,
        schema: str,
        table: str,
        keys: Sequence[str],
        *,
        history: bool,
        denormalized: Sequence[Denormalized],
    ) -> None:
        self._executor = executor
        self._dialect = dialect
        self._schema = schema
        self._table = table
        self._keys = list(keys)
        self._history = history
        self._denormalized = list(denormalized)
        self._known: set[str] | None = None  # the table's columns, once created
        self._seen: set[tuple[str, str]] = set()  # (column, Spark type) of batches checked

    def ensure(self, columns: Sequence[Column]) -> None:
        """Create the table, its key table, the ledger and the denormalized tables it feeds;
        add the columns a batch brings that the table lacks (a new source column), and
        widen those the source widened."""
        seen = {(c.name, c.spark_type) for c in columns}
        if self._known is not None and seen <= self._seen:
            return
        dialect, schema, table = self._dialect, self._schema, self._table
        if self._known is None:
            by_name = {c.name: c for c in columns}
            key_columns = [by_name[k] for k in self._keys]
            creates = [dialect.create_schema(schema)]
            if self._history:
                creates += [
                    dialect.create_history(schema, table, columns, self._keys),
                    dialect.create_events(schema, table, key_columns),
                ]
            else:
                creates += [
                    dialect.create_target(schema, table, columns, self._keys),
                    dialect.create_keys(schema, table, key_columns),
                ]
            creates.append(dialect.create_ledger(schema))
            creates += [d.create(dialect, schema) for d in self._denormalized]
            self._executor.transaction(creates)
            if not self._history:
                self._stamp_tombstones()
        found = self._executor.query(dialect.column_types(schema, table))
        types = {str(name): dialect.spark_type_of(str(kind), p, s) for name, kind, p, s in found}
        missing = [c for c in columns if c.name not in types]
        if missing:
            self._executor.transaction([dialect.add_column(schema, table, c) for c in missing])
            for column in missing:
                log.info("warehouse %s: column %s added", table, column.name)
        self._widen([c for c in columns if _wider(types.get(c.name), c.spark_type)])
        self._known = {*types, *(c.name for c in missing)}
        self._seen |= seen

    def _stamp_tombstones(self) -> None:
        """A key table created before retention existed gets `_deleted_at` (its old
        tombstones, without a time, are kept until their key changes)."""
        keys_table = self._table + "__cdc_keys"
        found = self._executor.query(self._dialect.column_types(self._schema, keys_table))
        if DELETED_AT not in {str(row[0]) for row in found}:
            column = Column(DELETED_AT, "timestamp")
            self._executor.transaction([self._dialect.add_column(self._schema, keys_table, column)])

    def _widen(self, columns: Sequence[Column]) -> None:
        """A wider type for columns the source widened (a key column in its key table too)."""
        if not columns:
            return
        dialect, schema, table = self._dialect, self._schema, self._table
        state = table + ("__cdc_events" if self._history else "__cdc_keys")
        statements = []
        for column in columns:
            statements += dialect.widen_column(schema, table, column)
            if column.name in self._keys:
                if not isinstance(dialect, PostgresDialect):
                    raise ValueError(
                        f"warehouse {table}: key column {column.name} widened at the source; "
                        "Redshift cannot widen a key column in place: recreate the table"
                    )
                statements += dialect.widen_column(schema, state, column)
        self._executor.transaction(statements)
        for column in columns:
            log.warning("warehouse %s: column %s widened to %s", table, column.name,
                        column.spark_type)  # fmt: skip


def _wider(current: str | None, wanted: str) -> bool:
    """Whether the table's column (`current`, None when not judged) must widen."""
    return current is not None and current != wanted and widens(current, wanted)

"""What tables the source has, with their columns, types and primary keys.

Tables that the config does not declare column by column are discovered: from the source
database's catalog (`information_schema` of MySQL/MariaDB, through `source.database`),
from the AWS Glue Data Catalog (`source.glue_catalog`), or, without either, from what the
records describe (Debezium's schemas, `SeenTables`; DMS Parquet footers,
sources/parquet_schemas.py). All answer the same questions: which `schema.table` names
match the config's patterns, and what one table looks like now. The job asks again when
a batch disagrees with what it knows (a new table, a set of fields other than the one
it knows; for DMS Parquet, every file offered): that is how schema changes are followed.
A value that no longer fits its column is quarantined, not a question to the catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Protocol

from transforms.types import DatabaseColumn

__all__ = [
    "DiscoveredTable",
    "GlueSourceCatalog",
    "MySqlCatalog",
    "SeenTables",
    "SourceCatalog",
    "UnsupportedColumnError",
    "matches",
]

# MySQL's own schemas: never replicated, whatever the patterns say.
_SYSTEM_SCHEMAS = ("information_schema", "mysql", "performance_schema", "sys")


@dataclass(frozen=True)
class DiscoveredTable:
    """One source table as its catalog describes it now."""

    schema: str
    table: str
    columns: tuple[DatabaseColumn, ...]
    keys: tuple[str, ...]  # the primary key's columns, in key order; empty: none

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


class SourceCatalog(Protocol):
    """Where the source's tables are described."""

    def names(self) -> list[tuple[str, str]]:
        """(schema, table) of every table."""
        ...

    def describe(self, schema: str, table: str) -> DiscoveredTable | None:
        """The table now, or None when it does not exist."""
        ...


class UnsupportedColumnError(ValueError):
    """A column the job cannot type from what describes it; the message names it."""


class SeenTables:
    """A `SourceCatalog` of the tables the batches have shown, when what the source sends
    describes them (Debezium records with their schema, DMS Parquet files): each table as
    last described, or why it could not be."""

    def __init__(self) -> None:
        self._tables: dict[tuple[str, str], DiscoveredTable] = {}
        self._problems: dict[tuple[str, str], str] = {}

    def _learn(self, schema: str, table: str, describe: Callable[[], DiscoveredTable]) -> bool:
        """Describe the table anew; a column it cannot type is kept as its problem."""
        try:
            found = describe()
        except UnsupportedColumnError as exc:
            self._problems[(schema, table)] = str(exc)
            return False
        self._tables[(schema, table)] = found
        self._problems.pop((schema, table), None)
        return True

    def problem(self, schema: str, table: str) -> str | None:
        """Why the table could not be described, if it could not."""
        return self._problems.get((schema, table))

    def names(self) -> list[tuple[str, str]]:
        return sorted(self._tables)

    def describe(self, schema: str, table: str) -> DiscoveredTable | None:
        return self._tables.get((schema, table))


def matches(name: str, include: Sequence[str], exclude: Sequence[str] = ()) -> bool:
    """`schema.table` against glob patterns (`sports.*`, `*.orders`, `db.t?`): included by
    one and excluded by none. Case-sensitive, as MySQL's names on Linux."""
    return any(fnmatchcase(name, p) for p in include) and not any(
        fnmatchcase(name, p) for p in exclude
    )


class MySqlCatalog:
    """`information_schema` of a MySQL or MariaDB server; `connect()` opens a DB-API
    connection (PyMySQL). One connection per question: discovery is rare."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect

    def names(self) -> list[tuple[str, str]]:
        rows = self._query(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
            "WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN (%s, %s, %s, %s) "
            "ORDER BY TABLE_SCHEMA, TABLE_NAME",
            _SYSTEM_SCHEMAS,
        )
        return [(str(s), str(t)) for s, t in rows]

    def describe(self, schema: str, table: str) -> DiscoveredTable | None:
        columns = self._query(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, "
            "COALESCE(NUMERIC_PRECISION, DATETIME_PRECISION), NUMERIC_SCALE "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
            "ORDER BY ORDINAL_POSITION",
            (schema, table),
        )
        if not columns:
            return None
        keys = self._query(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' "
            "ORDER BY ORDINAL_POSITION",
            (schema, table),
        )
        return DiscoveredTable(
            schema,
            table,
            tuple(
                DatabaseColumn(
                    str(name),
                    _text(kind),
                    _text(full),
                    None if precision is None else int(precision),
                    None if scale is None else int(scale),
                )
                for name, kind, full, precision, scale in columns
            ),
            tuple(str(k) for (k,) in keys),
        )

    def _query(self, sql: str, params: Iterable[Any]) -> list[tuple[Any, ...]]:
        conn = self._connect()
        try:
            cur = conn.cursor()
            cur.execute(sql, tuple(params))
            return [tuple(row) for row in cur.fetchall()]
        finally:
            conn.close()


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class GlueSourceCatalog:
    """Tables of one Glue Data Catalog database describing the source (a JDBC crawler's,
    or written by hand). Glue has Hive types and no primary keys: a table's key comes from
    its `primary_key` parameter (comma-separated columns) or from the config."""

    def __init__(self, glue: Any, database: str, schema: str) -> None:
        self._glue = glue
        self._database = database
        self._schema = schema  # the source schema the Glue database describes

    def names(self) -> list[tuple[str, str]]:
        pages = self._glue.get_paginator("get_tables").paginate(DatabaseName=self._database)
        return sorted((self._schema, t["Name"]) for p in pages for t in p.get("TableList", []))

    def describe(self, schema: str, table: str) -> DiscoveredTable | None:
        if schema != self._schema:
            return None
        try:
            found = self._glue.get_table(DatabaseName=self._database, Name=table)["Table"]
        except self._glue.exceptions.EntityNotFoundException:
            return None
        columns = found.get("StorageDescriptor", {}).get("Columns", [])
        keys = found.get("Parameters", {}).get("primary_key", "")
        return DiscoveredTable(
            schema,
            table,
            tuple(_hive_column(c["Name"], c["Type"]) for c in columns),
            tuple(k.strip() for k in keys.split(",") if k.strip()),
        )


def _hive_column(name: str, hive: str) -> DatabaseColumn:
    """A Glue (Hive) column in the catalog vocabulary of `transforms.types`."""
    kind = hive.lower().strip()
    if kind.startswith("decimal"):
        digits = kind[kind.index("(") + 1 : kind.index(")")].split(",") if "(" in kind else []
        precision = int(digits[0]) if digits else 10
        scale = int(digits[1]) if len(digits) > 1 else 0
        return DatabaseColumn(name, "decimal", kind, precision, scale)
    simple = {"boolean": "tinyint(1)", "string": "varchar", "timestamp": "datetime"}
    base = kind.split("(")[0]
    return DatabaseColumn(name, simple.get(base, base), simple.get(base, kind), 6)

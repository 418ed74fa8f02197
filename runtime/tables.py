"""The job's tables: the ones the config declares, and those its patterns match in the
source, with their columns, keys and types; kept up to date while the job runs.

A table is resolved once, at start (declared ones, and every match of the patterns the
source catalog lists) or when a batch first brings it (a table created after the start).
An explicit entry overrides what discovery finds (keys, partitioning, derived columns,
privacy, SCD type, sequence). When a batch disagrees with what is known of a discovered
table, `refresh` asks the catalog again: additive changes and safe widenings are
followed; anything else stops that table alone (transforms/schema_change.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from config import ConfigError, FilesSource, JobConfig, TableConfig
from config.denormalize import check_denormalized
from config.tables import TablePattern
from sources.discovery import DiscoveredTable, SeenTables, SourceCatalog, matches
from sources.files import parquet_footer
from sources.parquet_schemas import ParquetSchemas
from sources.record_schemas import RecordSchemas
from transforms.schema_change import SchemaChange, compare
from transforms.types import DatabaseColumn, SourceColumn

__all__ = ["Registry", "Replica"]

log = logging.getLogger("stream_cdc")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
Encode = Callable[[DatabaseColumn], SourceColumn]


@dataclass
class Replica:
    """One replicated table, resolved."""

    config: TableConfig  # columns and keys filled in
    columns: tuple[SourceColumn, ...]  # how each source column is typed and decoded
    where: str  # the config key that made it a table, for messages
    discovered: bool  # columns from the source catalog (followed live), not declared
    stopped: str | None = None  # why the table is stopped, if it is
    entry: TableConfig | None = field(default=None, repr=False)  # its explicit entry

    @classmethod
    def declared(cls, entry: TableConfig, where: str) -> Replica:
        """A table whose entry declares its columns (and keys): nothing to discover."""
        if entry.columns is None:
            raise ConfigError(f"{where}.columns: required when the source has no catalog")
        if not entry.keys:
            raise ConfigError(f"{where}.keys: required when the table declares its columns")
        columns = tuple(SourceColumn(c.name, c.type) for c in entry.columns)
        return cls(entry, columns, where, discovered=False, entry=entry)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def source(self) -> tuple[str, str]:
        return self.config.source_schema, self.config.source_name


class Registry:
    """Every table of the job, by source (schema, table)."""

    def __init__(self, config: JobConfig, catalog: SourceCatalog | None, encode: Encode) -> None:
        self._config = config
        self._catalog = catalog
        self._encode = encode
        self._replicas: dict[tuple[str, str], Replica] = {}
        self._refused: set[tuple[str, str]] = set()  # seen, not replicated
        # Explicit entries without columns, waiting for their records to describe them.
        self._pending: dict[tuple[str, str], tuple[TableConfig, str]] = {}

    @property
    def from_records(self) -> bool:
        """Whether tables are described by their records (`offer` them each batch)."""
        return isinstance(self._catalog, RecordSchemas)

    def offer(
        self, schema: str, table: str, messages: Sequence[tuple[str | None, str | None]]
    ) -> None:
        """A table's newest messages of a batch (value, key; one per Kafka partition), when
        records describe the tables."""
        if isinstance(self._catalog, RecordSchemas):
            self._catalog.offer(schema, table, messages)

    @property
    def from_files(self) -> bool:
        """Whether tables are described by their DMS Parquet files (`offer_file` them)."""
        return isinstance(self._catalog, ParquetSchemas)

    def offer_file(self, schema: str, table: str, path: str) -> None:
        """A table's newest Parquet file of a batch, when files describe the tables (a
        table declared column by column needs no describing)."""
        known = self._replicas.get((schema, table))
        if isinstance(self._catalog, ParquetSchemas) and (known is None or known.discovered):
            self._catalog.offer(schema, table, path)

    def __iter__(self) -> Iterator[Replica]:
        return iter(self._replicas.values())

    @property
    def patterns(self) -> list[TablePattern]:
        return [t for t in self._config.tables if isinstance(t, TablePattern)]

    def start(self) -> list[Replica]:
        """Resolve the declared tables and every catalog table a pattern matches."""
        for index, entry in self._entries():
            replica = self._resolve(entry, f"tables.{index}")
            if replica is None:
                self._pending[(entry.source_schema, entry.source_name)] = (entry, f"tables.{index}")
            else:
                self._add(replica)
        if self._catalog is not None and self.patterns:
            for schema, table in self._catalog.names():
                if (schema, table) not in self._replicas and self._wanted(schema, table):
                    self.find(schema, table)
        elif self.patterns:
            raise ConfigError(
                "tables: patterns need a catalog to list the source's tables: set "
                "source.database (the captured database) or source.glue_catalog"
            )
        self._check_denormalized()
        return list(self)

    def find(self, schema: str, table: str) -> Replica | None:
        """The table, resolved now if a pattern wants it; None when it is not replicated."""
        known = self._replicas.get((schema, table))
        if known is not None or (schema, table) in self._refused:
            return known
        pending = self._pending.pop((schema, table), None)
        if self._catalog is None or not (pending or self._wanted(schema, table)):
            self._refused.add((schema, table))
            return None
        found = self._catalog.describe(schema, table)
        keyed = pending is not None and bool(pending[0].keys)  # the entry names the key
        reason = self._problem(schema, table) or _unreplicable(found, self._taken(), keyed)
        if found is None or reason:
            log.warning("table %s.%s is not replicated: %s", schema, table, reason or "gone")
            self._refused.add((schema, table))
            return None
        entry, where = pending or (None, f"tables ({schema}.{table} by pattern)")
        replica = self._discovered(found, entry, where)
        self._add(replica)
        log.info("table %s.%s discovered: replicated as %s", schema, table, replica.name)
        return replica

    def refresh(self, replica: Replica) -> SchemaChange:
        """Ask the catalog again; follow what can be followed, else stop the table."""
        if not replica.discovered or self._catalog is None or replica.stopped:
            return SchemaChange()
        schema, table = replica.source
        found = self._catalog.describe(schema, table)
        if found is None:
            replica.stopped = f"{schema}.{table} no longer exists in the source"
            return SchemaChange(incompatible=(replica.stopped,))
        problem = self._problem(schema, table)
        if problem:
            replica.stopped = problem
            return SchemaChange(incompatible=(problem,))
        columns = tuple(self._encode(c) for c in found.columns)
        keys = list(replica.entry.keys or []) if replica.entry else []
        change = compare(replica.columns, replica.config.keys or [], columns, keys or found.keys)
        if change.incompatible:
            replica.stopped = "; ".join(change.incompatible)
            return change
        if not change.none:
            updated = self._discovered(found, replica.entry, replica.where)
            replica.config, replica.columns = updated.config, updated.columns
        return change

    # --------------------------------------------------------------- private

    def _entries(self) -> Iterator[tuple[int, TableConfig]]:
        for index, entry in enumerate(self._config.tables):
            if isinstance(entry, TableConfig):
                yield index, entry

    def _wanted(self, schema: str, table: str) -> bool:
        name = f"{schema}.{table}"
        return any(matches(name, p.include, p.exclude) for p in self.patterns)

    def _problem(self, schema: str, table: str) -> str | None:
        if isinstance(self._catalog, SeenTables):
            return self._catalog.problem(schema, table)
        return None

    def _resolve(self, entry: TableConfig, where: str) -> Replica | None:
        """The entry's table; None when its records are to describe it (at its first)."""
        if entry.columns is not None:
            return Replica.declared(entry, where)
        if self.from_files and not entry.keys:
            raise ConfigError(
                f"{where}.keys: required: DMS Parquet files describe a table's columns but "
                "not its primary key (or set source.database or source.glue_catalog)"
            )
        if self.from_records or self.from_files:
            return None
        if self._catalog is None:
            raise ConfigError(
                f"{where}.columns: required unless the source's catalog can be read "
                "(source.database or source.glue_catalog)"
            )
        found = self._catalog.describe(entry.source_schema, entry.source_name)
        if found is None:
            raise ConfigError(
                f"{where}: {entry.source_schema}.{entry.source_name} is not in the source"
            )
        return self._discovered(found, entry, where)

    def _discovered(self, found: DiscoveredTable, entry: TableConfig | None, where: str) -> Replica:
        """The table as found, with its explicit entry's settings over it."""
        columns = tuple(self._encode(c) for c in found.columns)
        keys = list(entry.keys) if entry and entry.keys else list(found.keys)
        settings = entry.model_dump(by_alias=True, exclude_unset=True) if entry else {}
        raw = {
            "name": _target_name(found.table),
            "source_schema": found.schema,
            "source_table": found.table,
            **settings,
            "keys": keys,
            "columns": [{"name": c.name, "type": c.type} for c in columns],
        }
        try:
            config = TableConfig.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{where}{'.' + key if key else ''}: {first['msg']}") from None
        return Replica(config, columns, where, discovered=True, entry=entry)

    def _add(self, replica: Replica) -> None:
        clash = next((r for r in self if r.name == replica.name), None)
        if clash is not None:
            raise ConfigError(
                f"{replica.where}: {'.'.join(replica.source)} and {'.'.join(clash.source)} "
                f"would both be table {replica.name!r}; give one an explicit entry with "
                "another name"
            )
        self._replicas[replica.source] = replica

    def _taken(self) -> set[str]:
        return {r.name for r in self}

    def _check_denormalized(self) -> None:
        tables = {r.name: r.config for r in self}
        waiting = ", ".join(sorted(f"{s}.{t}" for s, t in self._pending))
        hint = (
            f" ({waiting}: described only by their first records or files; declare their "
            "columns, or set source.database)"
            if waiting
            else ""
        )
        for i, spec in enumerate(self._config.denormalize):
            try:
                check_denormalized(spec, tables, taken=set(tables), where=f"denormalize.{i}")
            except ValueError as exc:
                raise ConfigError(f"{exc}{hint}") from None


def _target_name(table: str) -> str:
    """The target table's name: the source's, made a plain identifier."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", table)
    return name if _IDENTIFIER.match(name) else f"t_{name}"


def _unreplicable(
    found: DiscoveredTable | None, taken: set[str], keyed: bool = False
) -> str | None:
    """Why a discovered table cannot be replicated as it is, or None (`keyed`: its
    explicit entry declares the keys)."""
    if found is None:
        return "not in the source catalog"
    if not found.keys and not keyed:
        return "it has no primary key (declare keys in an explicit entry)"
    odd = [c.name for c in found.columns if not _IDENTIFIER.match(c.name)]
    if odd:
        return f"columns {odd} are not plain identifiers (declare the table explicitly)"
    if _target_name(found.table) in taken:
        return f"another table is already named {_target_name(found.table)!r}"
    return None


def catalog_of(config: JobConfig) -> SourceCatalog | None:
    """The catalog describing the source: its database, or a Glue database; None if neither."""
    source = config.source
    glue = getattr(source, "glue_catalog", None)
    if glue is not None:
        from aws import client
        from sources.discovery import GlueSourceCatalog

        return GlueSourceCatalog(client("glue", config.aws), glue.database, glue.schema_name)
    database = getattr(source, "database", None)
    if database is None:
        # Debezium's records describe their tables when the converter writes schemas,
        # DMS Parquet files by their footers.
        if source.format == "debezium-json":
            return RecordSchemas()
        if isinstance(source, FilesSource) and source.format == "dms-parquet":
            return ParquetSchemas(parquet_footer, source.timestamp_column)
        return None
    from sources.discovery import MySqlCatalog

    password = config.source_password().get_secret_value()

    def connect() -> object:
        import pymysql

        return pymysql.connect(
            host=database.host,
            port=database.port,
            user=database.user,
            password=password,
            connect_timeout=10,
        )

    return MySqlCatalog(connect)

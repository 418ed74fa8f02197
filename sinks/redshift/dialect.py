"""The SQL of a staged merge, one class per database; every method returns Statements.

Every statement is valid Amazon Redshift SQL (no ON CONFLICT, no FILTER, no row
comparisons; tests/unit/test_redshift_sql.py parses each with a Redshift grammar);
PostgreSQL differs in column types, in comparing the bookkeeping strings with the "C"
collation, which Redshift does by default, in the mode of LOCK (Redshift's has none), and
in how a column is widened (PostgreSQL in place; Redshift, which changes only VARCHAR
lengths in place, through a new column).

Tables of one target table `t` (identifiers validated by the config, always quoted):
  t              the published table: live rows, business columns only
  t__cdc_keys    keys, _seq, _pos, _deleted, _deleted_at: what the target holds per key
                 (tombstones, and when the job wrote them: retention.py)
  t__stage_<n>   one batch (one row per key; SCD type 2: every change), loaded before the
                 merge, dropped after
  stream_cdc_ledger   (table, writer, batch) applied, for idempotent replays
With `scd_type: 2`, t holds one row per version and t__cdc_events every change
(sinks/scd2.py) instead of t__cdc_keys.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sinks.redshift.retention import Times
from sinks.redshift.statements import Param, Statement, literal, quote
from sinks.retention import utc_now
from sinks.scd2 import Scd2Sql
from transforms.names import ACCEPTED, DELETED, DELETED_AT

__all__ = ["LEDGER", "Column", "Dialect", "PostgresDialect", "RedshiftDialect", "dialect_of"]

LEDGER = "stream_cdc_ledger"
_DECIMAL = re.compile(r"decimal\((\d+),(\d+)\)")


@dataclass(frozen=True)
class Column:
    name: str
    spark_type: str  # Spark's simpleString: int, bigint, string, decimal(10,2), ...


class Dialect:
    """The statements shared by every database; type defaults are Redshift's."""

    text_type = "VARCHAR(65535)"
    bookkeeping_type = "VARCHAR(1024)"
    collate = ""

    def sql_type(self, spark_type: str) -> str:
        simple = {
            "string": self.text_type,
            "boolean": "BOOLEAN",
            "tinyint": "SMALLINT",
            "smallint": "SMALLINT",
            "int": "INTEGER",
            "bigint": "BIGINT",
            "float": "REAL",
            "double": "DOUBLE PRECISION",
            "date": "DATE",
            "timestamp": "TIMESTAMP",
        }
        if spark_type in simple:
            return simple[spark_type]
        decimal = _DECIMAL.fullmatch(spark_type)
        if decimal:
            return f"DECIMAL({decimal.group(1)},{decimal.group(2)})"
        raise ValueError(f"type {spark_type} has no warehouse column type")

    def _definitions(self, columns: Sequence[Column]) -> str:
        """`"name" TYPE` of each column, one per line, for a CREATE TABLE body."""
        return ",\n  ".join(f"{quote(c.name)} {self.sql_type(c.spark_type)}" for c in columns)

    def _bookkeeping(self) -> str:
        return f"{self.bookkeeping_type}{self.collate}"

    # ------------------------------------------------------------- catalog

    def create_schema(self, schema: str) -> Statement:
        return Statement(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")

    def column_types(self, schema: str, table: str) -> Statement:
        """One row per column of the table: name, data type, numeric precision and scale."""
        return Statement(
            "SELECT column_name, data_type, numeric_precision, numeric_scale "
            "FROM information_schema.columns "
            "WHERE table_schema = {schema} AND table_name = {table_name}",
            {"schema": schema, "table_name": table},
        )

    @staticmethod
    def spark_type_of(data_type: str, precision: int | None, scale: int | None) -> str | None:
        """The Spark type a column of `information_schema` holds, where a widening can be
        judged (numbers); None for the others."""
        simple = {
            "smallint": "smallint",
            "integer": "int",
            "bigint": "bigint",
            "real": "float",
            "double precision": "double",
        }
        kind = data_type.lower()
        if kind in ("numeric", "decimal") and precision is not None:
            return f"decimal({precision},{scale or 0})"
        return simple.get(kind)

    def widen_column(self, schema: str, table: str, column: Column) -> list[Statement]:
        """Give a column a wider type, keeping its values (PostgreSQL: in place)."""
        return [
            Statement(
                f"ALTER TABLE {quote(schema)}.{quote(table)} ALTER COLUMN {quote(column.name)} "
                f"TYPE {self.sql_type(column.spark_type)}"
            )
        ]

    def stage_tables(self, schema: str, table: str) -> Statement:
        """The names of the table's staging tables (`t__stage_<n>`) left in the schema."""
        prefix = f"{table}__stage_".replace("_", "\\_")
        return Statement(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = {schema} AND table_name LIKE {pattern}",
            {"schema": schema, "pattern": prefix + "%"},
        )

    def drop_table(self, schema: str, table: str) -> Statement:
        return Statement(f"DROP TABLE IF EXISTS {quote(schema)}.{quote(table)}")

    # ------------------------------------------------------------------ DDL

    def create_target(
        self, schema: str, table: str, columns: Sequence[Column], keys: Sequence[str]
    ) -> Statement:
        body = self._definitions(columns)
        return Statement(
            f"CREATE TABLE IF NOT EXISTS {quote(schema)}.{quote(table)} (\n  {body},\n"
            f"  PRIMARY KEY ({', '.join(quote(k) for k in keys)})\n)"
        )

    def add_column(self, schema: str, table: str, column: Column) -> Statement:
        """A new nullable column: rows written before it read NULL."""
        return Statement(
            f"ALTER TABLE {quote(schema)}.{quote(table)} "
            f"ADD COLUMN {quote(column.name)} {self.sql_type(column.spark_type)}"
        )

    def create_keys(self, schema: str, table: str, keys: Sequence[Column]) -> Statement:
        body = self._definitions(keys)
        return Statement(
            f"CREATE TABLE IF NOT EXISTS {quote(schema)}.{quote(table + '__cdc_keys')} (\n"
            f"  {body},\n  _seq {self._bookkeeping()},\n  _pos {self._bookkeeping()} NOT NULL,\n"
            f"  {DELETED} BOOLEAN NOT NULL,\n  {DELETED_AT} TIMESTAMP,\n"
            f"  PRIMARY KEY ({', '.join(quote(k.name) for k in keys)})\n)"
        )

    def create_ledger(self, schema: str) -> Statement:
        return Statement(
            f"CREATE TABLE IF NOT EXISTS {quote(schema)}.{LEDGER} (\n"
            f"  table_name VARCHAR(256) NOT NULL,\n  writer_id VARCHAR(256) NOT NULL,\n"
            f"  batch_id BIGINT NOT NULL,\n  upserts BIGINT NOT NULL,\n  deletes BIGINT NOT NULL,\n"
            f"  stale BIGINT NOT NULL,\n  applied_at TIMESTAMP NOT NULL,\n"
            f"  PRIMARY KEY (table_name, writer_id, batch_id)\n)"
        )

    def create_stage(
        self, schema: str, stage: str, columns: Sequence[Column], *, commit_ts: bool = False
    ) -> Statement:
        body = self._definitions(columns)
        extra = ",\n  _commit_ts TIMESTAMP" if commit_ts else ""
        return Statement(
            f"CREATE TABLE {quote(schema)}.{quote(stage)} (\n  {body},\n"
            f"  _op CHAR(1) NOT NULL,\n  _seq {self._bookkeeping()},\n"
            f"  _pos {self._bookkeeping()} NOT NULL{extra}\n)"
        )

    # ---------------------------------------------------------------- merge

    def accepted(self, stage: str) -> str:
        """The temporary table of the changes a merge accepted (unqualified)."""
        return stage + ACCEPTED

    def merge(
        self,
        schema: str,
        table: str,
        stage: str,
        columns: Sequence[str],
        keys: Sequence[str],
        *,
        times: Times | None = None,
    ) -> list[Statement]:
        """The statements of one merge, to run inside one transaction, in order.

        The stage holds one change per key. A change is applied when newer than the
        held one: by position when either has no sequence value, else by (_seq, _pos);
        or when the held one is a tombstone expired at `times` (retention.py).
        """
        times = times or Times(now=utc_now())  # tombstones kept forever
        t = f"{quote(schema)}.{quote(table)}"
        k = f"{quote(schema)}.{quote(table + '__cdc_keys')}"
        s = f"{quote(schema)}.{quote(stage)}"
        on = " AND ".join(f"h.{quote(c)} = s.{quote(c)}" for c in keys)
        newer = (
            f"h._pos IS NULL OR {times.or_expired('h')}CASE WHEN s._seq IS NULL OR h._seq IS NULL "
            "THEN s._pos > h._pos "
            "ELSE s._seq > h._seq OR (s._seq = h._seq AND s._pos > h._pos) END"
        )
        accepted = quote(self.accepted(stage))
        cols = ", ".join(quote(c) for c in columns)
        key_cols = ", ".join(quote(c) for c in keys)
        # Redshift's DELETE takes no alias: qualify with the full table name.
        target_matches = " AND ".join(f"{t}.{quote(c)} = a.{quote(c)}" for c in keys)
        keys_matches = " AND ".join(f"{k}.{quote(c)} = a.{quote(c)}" for c in keys)
        return [
            Statement(
                f"CREATE TEMP TABLE {accepted} AS SELECT s.* FROM {s} s LEFT JOIN {k} h ON {on} "
                f"WHERE {newer}",
                times.before_param(),
            ),
            Statement(f"DELETE FROM {t} USING {accepted} a WHERE {target_matches}"),
            Statement(f"INSERT INTO {t} ({cols}) SELECT {cols} FROM {accepted} WHERE _op <> 'D'"),
            Statement(f"DELETE FROM {k} USING {accepted} a WHERE {keys_matches}"),
            Statement(
                f"INSERT INTO {k} ({key_cols}, _seq, _pos, {DELETED}, {DELETED_AT}) "
                f"SELECT {key_cols}, _seq, _pos, _op = 'D', {times.stamp()} FROM {accepted}",
                times.now_param(),
            ),
            *times.sweep(k),
        ]

    def drop_accepted(self, stage: str) -> Statement:
        return Statement(f"DROP TABLE IF EXISTS {quote(self.accepted(stage))}")

    # ------------------------------------------------------------ SCD type 2

    def create_history(
        self, schema: str, table: str, columns: Sequence[Column], keys: Sequence[str]
    ) -> Statement:
        """One row per version (see sinks/scd2.py); a version is identified by its _pos."""
        body = self._definitions(columns)
        return Statement(
            f"CREATE TABLE IF NOT EXISTS {quote(schema)}.{quote(table)} (\n  {body},\n"
            f"  valid_from TIMESTAMP,\n  valid_to TIMESTAMP,\n  is_current BOOLEAN NOT NULL,\n"
            f"  _seq {self._bookkeeping()} NOT NULL,\n  _pos {self._bookkeeping()} NOT NULL,\n"
            f"  PRIMARY KEY ({', '.join(quote(k) for k in [*keys, '_pos'])})\n)"
        )

    def create_events(self, schema: str, table: str, keys: Sequence[Column]) -> Statement:
        body = self._definitions(keys)
        return Statement(
            f"CREATE TABLE IF NOT EXISTS {quote(schema)}.{quote(table + '__cdc_events')} (\n"
            f"  {body},\n  _seq {self._bookkeeping()} NOT NULL,\n"
            f"  _pos {self._bookkeeping()} NOT NULL,\n"
            f"  {DELETED} BOOLEAN NOT NULL,\n  _commit_ts TIMESTAMP,\n"
            f"  PRIMARY KEY ({', '.join(quote(k) for k in [*(c.name for c in keys), '_pos'])})\n)"
        )

    def history_merge(
        self,
        schema: str,
        table: str,
        stage: str,
        columns: Sequence[str],
        keys: Sequence[str],
    ) -> list[Statement]:
        """The statements of one SCD2 batch, inside one transaction; the stage holds
        every change of the batch (not one per key)."""
        t = f"{quote(schema)}.{quote(table)}"
        e = f"{quote(schema)}.{quote(table + '__cdc_events')}"
        s = f"{quote(schema)}.{quote(stage)}"
        new, timeline = quote(stage + "__new"), quote(stage + "__timeline")
        sql = Scd2Sql(keys=keys, payload=columns, quote=quote, collate=self.collate)
        cols = ", ".join(quote(c) for c in columns)
        events = ", ".join(quote(c) for c in [*keys, "_seq", "_pos", DELETED, "_commit_ts"])
        on = " AND ".join(f"{t}.{quote(k)} = l.{quote(k)}" for k in keys)
        same = " AND ".join(f"n.{quote(k)} = l.{quote(k)}" for k in keys)
        return [
            Statement(f"CREATE TEMP TABLE {new} AS {sql.new_events(s, e)}"),
            Statement(f"CREATE TEMP TABLE {timeline} AS {sql.timeline(new, e)}"),
            Statement(
                f"UPDATE {t} SET valid_to = l.valid_to, is_current = l.is_current "
                f"FROM {timeline} l WHERE {on} AND {t}._pos = l._pos"
            ),
            Statement(
                f"INSERT INTO {t} ({cols}, valid_from, valid_to, is_current, _seq, _pos) "
                f"SELECT {', '.join(f'n.{quote(c)}' for c in columns)}, n._commit_ts, l.valid_to, "
                f"l.is_current, n._seq, n._pos FROM {new} n JOIN {timeline} l "
                f"ON {same} AND n._pos = l._pos WHERE NOT n.{DELETED}"
            ),
            Statement(f"INSERT INTO {e} ({events}) SELECT {events} FROM {new}"),
        ]

    def drop_history_temps(self, stage: str) -> list[Statement]:
        return [
            Statement(f"DROP TABLE IF EXISTS {quote(stage + '__new')}"),
            Statement(f"DROP TABLE IF EXISTS {quote(stage + '__timeline')}"),
        ]

    # --------------------------------------------------------------- ledger

    def _counts(self, stage: str, *, history: bool) -> str:
        """A SELECT of (upserts, deletes) the batch applied, from its temporary tables."""
        if history:
            return (
                f"SELECT COALESCE(SUM(CASE WHEN {DELETED} THEN 0 ELSE 1 END), 0) AS upserts, "
                f"COALESCE(SUM(CASE WHEN {DELETED} THEN 1 ELSE 0 END), 0) AS deletes "
                f"FROM {quote(stage + '__new')}"
            )
        return (
            f"SELECT COALESCE(SUM(CASE WHEN _op <> 'D' THEN 1 ELSE 0 END), 0) AS upserts, "
            f"COALESCE(SUM(CASE WHEN _op = 'D' THEN 1 ELSE 0 END), 0) AS deletes "
            f"FROM {quote(self.accepted(stage))}"
        )

    def record_batch(
        self,
        schema: str,
        table: str,
        stage: str,
        *,
        history: bool,
        writer_id: str,
        batch_id: int,
    ) -> Statement:
        """The ledger row of a batch, its counts computed in SQL: the Data API runs a
        transaction as one request, so no count can travel through the client midway."""
        return Statement(
            f"INSERT INTO {quote(schema)}.{LEDGER} "
            "(table_name, writer_id, batch_id, upserts, deletes, stale, applied_at) "
            "SELECT CAST({table_name} AS VARCHAR(256)), CAST({writer_id} AS VARCHAR(256)), "
            "CAST({batch_id} AS BIGINT), c.upserts, c.deletes, "
            "s.changes - c.upserts - c.deletes, CURRENT_TIMESTAMP "
            f"FROM ({self._counts(stage, history=history)}) c CROSS JOIN "
            f"(SELECT COUNT(*) AS changes FROM {quote(schema)}.{quote(stage)}) s",
            self._batch(table, writer_id, batch_id),
        )

    def ledger_of_batch(self, schema: str, writer_id: str, batch_id: int) -> Statement:
        """(table, upserts, deletes, stale) of every table of `schema` the batch committed."""
        return Statement(
            f"SELECT table_name, upserts, deletes, stale FROM {quote(schema)}.{LEDGER} "
            "WHERE writer_id = {writer_id} AND batch_id = CAST({batch_id} AS BIGINT)",
            {"writer_id": writer_id, "batch_id": batch_id},
        )

    @staticmethod
    def _batch(table: str, writer_id: str, batch_id: int) -> dict[str, Param]:
        return {"table_name": table, "writer_id": writer_id, "batch_id": batch_id}

    def copy_parquet(self, schema: str, stage: str, url: str, iam_role: str) -> Statement:
        """Load Parquet objects under an S3 key prefix. Redshift maps Parquet columns to
        the table's columns by position (their counts must match), so the stage table and
        the files share one column order."""
        return Statement(
            f"COPY {quote(schema)}.{quote(stage)} FROM {literal(url)} "
            f"IAM_ROLE {literal(iam_role)} FORMAT AS PARQUET"
        )

    def lock(self, schema: str, table: str) -> Statement:
        """Serialize writers of `table` until COMMIT; readers are not blocked where possible."""
        return Statement(f"LOCK {quote(schema)}.{quote(table)}")


class RedshiftDialect(Dialect):
    """Amazon Redshift: VARCHAR comparisons are bytewise already."""

    def widen_column(self, schema: str, table: str, column: Column) -> list[Statement]:
        """Redshift changes a type in place for VARCHAR only: a new column takes the
        values, the old one goes, the new one takes its name (it moves last)."""
        t, name = f"{quote(schema)}.{quote(table)}", column.name
        wider = quote(f"{name}__widened")
        return [
            Statement(f"ALTER TABLE {t} ADD COLUMN {wider} {self.sql_type(column.spark_type)}"),
            Statement(f"UPDATE {t} SET {wider} = {quote(name)}"),
            Statement(f"ALTER TABLE {t} DROP COLUMN {quote(name)}"),
            Statement(f"ALTER TABLE {t} RENAME COLUMN {wider} TO {quote(name)}"),
        ]


class PostgresDialect(Dialect):
    """PostgreSQL, the local stand-in: TEXT, and bytewise ("C") collation for ordering."""

    text_type = "TEXT"
    bookkeeping_type = "TEXT"
    collate = ' COLLATE "C"'

    def lock(self, schema: str, table: str) -> Statement:
        # Redshift's LOCK has no mode; this one blocks writers, not readers.
        return Statement(f"LOCK TABLE {quote(schema)}.{quote(table)} IN SHARE ROW EXCLUSIVE MODE")


def dialect_of(name: str) -> Dialect:
    return PostgresDialect() if name == "postgres" else RedshiftDialect()

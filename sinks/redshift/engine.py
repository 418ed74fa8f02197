"""Apply micro-batches to a warehouse table with a staged merge.

Per batch: collapse to the last change per key (Spark); load it into a staging
table from the executors (PostgreSQL: COPY FROM STDIN per partition); then, in
ONE transaction, keep the changes newer than what the key table holds, delete
and insert them in the published table, update the key table (tombstones), and
record (table, writer, batch) in the ledger; finally drop the staging table. A
replayed batch finds its ledger row and changes nothing; a crash before COMMIT
leaves the published table as it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

from config.models import RedshiftTarget
from sinks.base import BatchResult
from sinks.crash import crash_point
from sinks.redshift.denormalize import Denormalized
from sinks.redshift.dialect import LEDGER, Column, Dialect, PostgresDialect, RedshiftDialect, quote
from sinks.redshift.reachability import unreachable
from transforms.names import BOOKKEEPING, COMMIT_TS, OP, POS, SEQ
from transforms.ordering import latest_per_key

_STAGE_COLUMNS = (OP, SEQ, POS)
_FIRST_DELAY_S = 1.0
_MAX_DELAY_S = 15.0
log = logging.getLogger("stream_cdc")


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything an executor needs to connect; the password never reaches a log."""

    dialect: str  # "postgres" | "redshift"
    host: str
    port: int
    database: str
    user: str
    password: str
    connect_timeout_s: int = 10

    def __repr__(self) -> str:
        return f"ConnectionSettings({self.dialect}://{self.user}@{self.host}:{self.port}/{self.database})"

    def connect(self) -> Any:
        if self.dialect == "postgres":
            import psycopg

            return psycopg.connect(
                host=self.host,
                port=self.port,
                dbname=self.database,
                user=self.user,
                password=self.password,
                connect_timeout=self.connect_timeout_s,
            )
        import redshift_connector

        return redshift_connector.connect(
            host=self.host,
            port=self.port,
            database=self.database,
            user=self.user,
            password=self.password,
            timeout=self.connect_timeout_s,
        )


def settings_of(target: RedshiftTarget) -> ConnectionSettings:
    """How to reach a configured warehouse; the password comes from its environment variable."""
    return ConnectionSettings(
        dialect=target.dialect,
        host=target.host,
        port=target.port,
        database=target.database,
        user=target.user,
        password=target.password.get_secret_value(),
        connect_timeout_s=target.connect_timeout_s,
    )


def dialect_of(name: str) -> Dialect:
    return PostgresDialect() if name == "postgres" else RedshiftDialect()


class WarehouseEngine:
    """One warehouse table; create one per table and reuse it for every batch."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        schema: str,
        table: str,
        keys: Sequence[str],
        denormalized: Sequence[Denormalized] = (),
        retry_s: float = 300.0,
        scd_type: int = 1,
    ) -> None:
        if settings.dialect != "postgres":
            raise ValueError(
                "target.dialect: loading Amazon Redshift (staging through S3 and COPY) is not "
                "available yet; use dialect postgres"
            )
        self._settings = settings
        self._dialect = dialect_of(settings.dialect)
        self._schema = schema
        self._table = table
        self._keys = list(keys)
        self._denormalized = sorted(denormalized, key=lambda d: d.name)
        self._known: set[str] | None = None  # the table's columns, once created
        self._retry_s = retry_s
        self._history = scd_type == 2
        self.location = f"{settings.dialect}://{settings.host}:{settings.port}/{settings.database}/{schema}.{table}"

    def recover(self) -> None:
        """Drop staging tables a crashed process left behind (their batch is re-run)."""
        prefix = f"{self._table}__stage_"
        with self._connection() as conn:
            cur = conn.cursor()
            cur.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = %s AND table_name LIKE %s",
                (self._schema, prefix.replace("_", "\\_") + "%"),
            )
            for (name,) in cur.fetchall():
                cur.execute(f"DROP TABLE IF EXISTS {quote(self._schema)}.{quote(name)}")
            conn.commit()

    def apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        """Apply the batch; while the warehouse is unreachable, retry it for `retry_s`.

        Retrying is safe at any point: the ledger makes a committed batch a no-op and
        an uncommitted one starts again from a fresh staging table.
        """
        deadline = time.monotonic() + self._retry_s
        delay = _FIRST_DELAY_S
        attempt = 1
        while True:
            try:
                return self._apply_once(changes, batch_id, writer_id)
            except Exception as error:
                if not unreachable(error) or time.monotonic() + delay > deadline:
                    raise
                log.warning(
                    "warehouse %s unreachable (%s): batch %d retried in %.0f s (attempt %d)",
                    self._table,
                    type(error).__name__,
                    batch_id,
                    delay,
                    attempt,
                )
                time.sleep(delay)
                delay = min(delay * 2, _MAX_DELAY_S)
                attempt += 1

    def _apply_once(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        started = time.monotonic()
        timings: dict[str, float] = {}
        payload = [c for c in changes.columns if c not in BOOKKEEPING]
        columns = [Column(c, changes.schema[c].dataType.simpleString()) for c in payload]
        self.ensure_tables(columns)
        if self._committed(writer_id, batch_id):
            return BatchResult(batch_id=batch_id, skipped=True)

        # Type 1 stages the last change per key; type 2 every change (each is a version).
        staged = changes if self._history else changes.transform(latest_per_key(self._keys))
        commit_ts = [_as_utc_text(changes, COMMIT_TS)] if self._history else []
        rows = staged.select(
            *[_as_utc_text(changes, c) for c in payload], *_STAGE_COLUMNS, *commit_ts
        )
        stage = f"{self._table}__stage_{batch_id}"
        with self._connection() as conn:
            cur = conn.cursor()
            cur.execute(f"DROP TABLE IF EXISTS {quote(self._schema)}.{quote(stage)}")
            cur.execute(
                self._dialect.create_stage(self._schema, stage, columns, commit_ts=self._history)
            )
            conn.commit()
        mark = time.monotonic()
        settings, schema = self._settings, self._schema
        target = f"{quote(schema)}.{quote(stage)}"
        names = list(rows.columns)
        rows.foreachPartition(lambda part: _copy_rows(settings, target, names, part))
        timings["stage_s"] = time.monotonic() - mark
        crash_point("warehouse.after_staging")

        mark = time.monotonic()
        with self._connection() as conn:
            cur = conn.cursor()
            for denormalized in self._denormalized:  # first: refreshes run one at a time
                cur.execute(denormalized.lock(self._dialect, self._schema))
            cur.execute(f"SELECT COUNT(*) FROM {target}")
            changes_in = int(cur.fetchone()[0])
            if self._history:
                statements = self._dialect.history_merge(
                    self._schema, self._table, stage, payload, self._keys
                )
                counts, cleanup = (
                    self._dialect.history_counts(stage),
                    self._dialect.drop_history_temps(stage),
                )
            else:
                statements = self._dialect.merge(
                    self._schema, self._table, stage, payload, self._keys
                )
                counts, cleanup = (
                    self._dialect.merge_counts(stage),
                    [self._dialect.drop_accepted(stage)],
                )
            for statement in statements:
                cur.execute(statement)
            cur.execute(counts)
            upserts, deletes = (int(v) for v in cur.fetchone())
            stale = changes_in - upserts - deletes
            refreshed = 0 if self._history else self._refresh(cur, self._dialect.accepted(stage))
            cur.execute(
                f"INSERT INTO {quote(self._schema)}.{LEDGER} "
                "(table_name, writer_id, batch_id, upserts, deletes, stale, applied_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, CURRENT_TIMESTAMP)",
                (self._table, writer_id, batch_id, upserts, deletes, stale),
            )
            for statement in cleanup:
                cur.execute(statement)
            conn.commit()
        timings["merge_s"] = time.monotonic() - mark
        crash_point("warehouse.after_commit")
        with self._connection() as conn:
            conn.cursor().execute(f"DROP TABLE IF EXISTS {target}")
            conn.commit()
        timings["total_s"] = time.monotonic() - started
        return BatchResult(
            batch_id=batch_id,
            changes_in=changes_in,
            upserts=upserts,
            deletes=deletes,
            stale=stale,
            refreshed=refreshed,
            timings=timings,
        )

    def _refresh(self, cur: Any, accepted: str) -> int:
        """Refresh the denormalized rows this batch touched; how many were rewritten."""
        refreshed = 0
        for denormalized in self._denormalized:
            statements = denormalized.refresh(self._schema, self._table, self._keys, accepted)
            for statement in statements:
                cur.execute(statement)
                if statement.startswith("INSERT"):
                    refreshed += max(int(cur.rowcount), 0)
        return refreshed

    def ensure_tables(self, columns: Sequence[Column]) -> None:
        """Create the table, its key table, the ledger and the denormalized tables it feeds;
        add the columns a batch brings that the table lacks (a new source column)."""
        if self._known is not None and all(c.name in self._known for c in columns):
            return
        by_name = {c.name: c for c in columns}
        with self._connection() as conn:
            cur = conn.cursor()
            if self._known is None:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self._schema)}")
                key_columns = [by_name[k] for k in self._keys]
                if self._history:
                    cur.execute(
                        self._dialect.create_history(self._schema, self._table, columns, self._keys)
                    )
                    cur.execute(self._dialect.create_events(self._schema, self._table, key_columns))
                else:
                    cur.execute(
                        self._dialect.create_target(self._schema, self._table, columns, self._keys)
                    )
                    cur.execute(self._dialect.create_keys(self._schema, self._table, key_columns))
                cur.execute(self._dialect.create_ledger(self._schema))
                for denormalized in self._denormalized:
                    cur.execute(denormalized.create(self._dialect, self._schema))
            cur.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                (self._schema, self._table),
            )
            known = {str(row[0]) for row in cur.fetchall()}
            for column in columns:
                if column.name not in known:
                    cur.execute(self._dialect.add_column(self._schema, self._table, column))
                    known.add(column.name)
                    log.info("warehouse %s: column %s added", self._table, column.name)
            conn.commit()
        self._known = known

    def _committed(self, writer_id: str, batch_id: int) -> bool:
        with self._connection() as conn:
            cur = conn.cursor()
            cur.execute(
                f"SELECT COUNT(*) FROM {quote(self._schema)}.{LEDGER} "
                "WHERE table_name = %s AND writer_id = %s AND batch_id = %s",
                (self._table, writer_id, batch_id),
            )
            return int(cur.fetchone()[0]) > 0

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        conn = self._settings.connect()
        try:
            yield conn
        finally:
            conn.close()


def _as_utc_text(df: DataFrame, name: str) -> Any:
    """Timestamps travel as text in the session time zone (UTC, see runtime/session.py).

    As Python datetimes they would be shifted to the executor's local time zone.
    """
    if df.schema[name].dataType.simpleString() != "timestamp":
        return F.col(f"`{name}`")
    return F.date_format(F.col(f"`{name}`"), "yyyy-MM-dd HH:mm:ss.SSSSSS").alias(name)


def _copy_rows(
    settings: ConnectionSettings, target: str, names: Sequence[str], rows: Iterator[Row]
) -> None:
    """Runs on an executor: stream one partition into the staging table."""
    conn = settings.connect()
    try:
        with conn.cursor() as cur:
            columns = ", ".join(quote(n) for n in names)
            with cur.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(tuple(row))
        conn.commit()
    finally:
        conn.close()

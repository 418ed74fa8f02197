"""Apply micro-batches to a warehouse table with a staged merge.

Per batch: collapse to the last change per key (Spark); load it into a staging
table from the executors (PostgreSQL: COPY FROM STDIN per partition; Redshift:
Parquet on S3, then one COPY, see s3_staging.py); then, in
ONE transaction, keep the changes newer than what the key table holds, delete
and insert them in the published table, update the key table (tombstones), and
record (table, writer, batch) in the ledger; finally drop the staging table. A
replayed batch finds its ledger row and changes nothing; a crash before COMMIT
leaves the published table as it was.

Statements go through an `Executor` (dialect.py): a driver connection here, or the
Redshift Data API (data_api.py). Both run the same statement lists; a transaction is
one list, which is why the ledger row computes its counts in SQL.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

from config.models import AwsConfig, DataApiConnection, RedshiftTarget, S3Staging
from sinks.base import BatchResult
from sinks.crash import crash_point
from sinks.redshift.denormalize import Denormalized
from sinks.redshift.dialect import (
    Column,
    Dialect,
    Executor,
    PostgresDialect,
    RedshiftDialect,
    Statement,
    quote,
)
from sinks.redshift.reachability import unreachable
from sinks.redshift.s3_staging import S3Stage, parquet_column
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
    if target.host is None or target.user is None:
        raise ValueError("target: a driver connection needs host and user")
    return ConnectionSettings(
        dialect=target.dialect,
        host=target.host,
        port=target.port,
        database=target.database,
        user=target.user,
        password=target.password.get_secret_value(),
        connect_timeout_s=target.connect_timeout_s,
    )


_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class DriverExecutor:
    """The engine's statements over a driver connection (psycopg, redshift_connector)."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self._settings = settings

    def query(self, statement: Statement) -> list[tuple[Any, ...]]:
        with self._connection() as conn:
            cur = self._cursor(conn)
            cur.execute(*_bind(statement))
            rows = [tuple(r) for r in cur.fetchall()]
            conn.commit()
            return rows

    def transaction(self, statements: Sequence[Statement]) -> list[int]:
        with self._connection() as conn:
            cur = self._cursor(conn)
            counts = []
            for statement in statements:
                cur.execute(*_bind(statement))
                counts.append(max(int(cur.rowcount), 0))
            conn.commit()
            return counts

    def _cursor(self, conn: Any) -> Any:
        cur = conn.cursor()
        if self._settings.dialect != "postgres":
            cur.paramstyle = "pyformat"  # redshift_connector's default is "format"
        return cur

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        conn = self._settings.connect()
        try:
            yield conn
        finally:
            conn.close()


def _bind(statement: Statement) -> tuple[str, Any]:
    """`:name` (the Data API's form) as the drivers' `%(name)s`; no parameters, no change."""
    if not statement.params:
        return statement.sql, None
    sql = _NAMED.sub(r"%(\1)s", statement.sql.replace("%", "%%"))
    return sql, dict(statement.params)


def executor_of(target: RedshiftTarget, aws: AwsConfig) -> Executor:
    """The configured way of running statements: a driver connection or the Data API."""
    connection = target.connection
    if isinstance(connection, DataApiConnection):
        from runtime.aws import client
        from sinks.redshift.data_api import DataApiExecutor

        return DataApiExecutor(
            client(aws, "redshift-data"),
            database=target.database,
            workgroup=connection.workgroup,
            cluster_id=connection.cluster_id,
            db_user=connection.db_user,
            secret_arn=connection.secret_arn,
            timeout_s=connection.timeout_s,
        )
    return DriverExecutor(settings_of(target))


def staging_of(target: RedshiftTarget, aws: AwsConfig) -> S3Stage | None:
    """The S3 staging of a target, or None for COPY FROM STDIN from the executors."""
    if not isinstance(target.staging, S3Staging):
        return None
    from runtime.aws import client

    return S3Stage(target.staging.path, target.staging.iam_role, lambda: client(aws, "s3"))


def dialect_of(name: str) -> Dialect:
    return PostgresDialect() if name == "postgres" else RedshiftDialect()


class WarehouseEngine:
    """One warehouse table; create one per table and reuse it for every batch.

    `settings` is the driver connection (required for COPY FROM STDIN staging, which
    streams from the executors); `executor` runs the driver's statements (default: over
    `settings`); `staging` stages batches on S3 instead. `for_target` builds all three
    from a config.
    """

    def __init__(
        self,
        settings: ConnectionSettings | None,
        *,
        schema: str,
        table: str,
        keys: Sequence[str],
        denormalized: Sequence[Denormalized] = (),
        retry_s: float = 300.0,
        scd_type: int = 1,
        dialect: str | None = None,
        executor: Executor | None = None,
        staging: S3Stage | None = None,
        location: str | None = None,
    ) -> None:
        dialect = dialect or (settings.dialect if settings else None)
        if dialect is None:
            raise ValueError("a warehouse engine needs a dialect or connection settings")
        if staging is None and (settings is None or dialect != "postgres"):
            raise ValueError(
                "target.staging: COPY FROM STDIN needs a driver connection to PostgreSQL; "
                "Amazon Redshift loads through S3 (staging kind s3)"
            )
        if executor is None:
            if settings is None:
                raise ValueError("a warehouse engine needs an executor or connection settings")
            executor = DriverExecutor(settings)
        self._settings = settings
        self._executor = executor
        self._staging = staging
        self._dialect = dialect_of(dialect)
        self._schema = schema
        self._table = table
        self._keys = list(keys)
        self._denormalized = sorted(denormalized, key=lambda d: d.name)
        self._known: set[str] | None = None  # the table's columns, once created
        self._retry_s = retry_s
        self._history = scd_type == 2
        if location is None and settings is not None:
            location = f"{dialect}://{settings.host}:{settings.port}/{settings.database}"
        self.location = f"{location or dialect}/{schema}.{table}"

    @classmethod
    def for_target(
        cls,
        target: RedshiftTarget,
        aws: AwsConfig,
        *,
        table: str,
        keys: Sequence[str],
        denormalized: Sequence[Denormalized] = (),
        scd_type: int = 1,
    ) -> WarehouseEngine:
        """The engine of one table of a configured warehouse target."""
        executor = executor_of(target, aws)
        driver = isinstance(executor, DriverExecutor)
        return cls(
            settings_of(target) if driver else None,
            schema=target.db_schema,
            table=table,
            keys=keys,
            denormalized=denormalized,
            retry_s=target.retry_s,
            scd_type=scd_type,
            dialect=target.dialect,
            executor=executor,
            staging=staging_of(target, aws),
            location=None if driver else getattr(executor, "location", None),
        )

    def recover(self) -> None:
        """Drop staging tables a crashed process left behind (their batch is re-run)."""
        prefix = f"{self._table}__stage_"
        found = self._executor.query(
            Statement(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = :schema AND table_name LIKE :pattern",
                {"schema": self._schema, "pattern": prefix.replace("_", "\\_") + "%"},
            )
        )
        drops = [
            Statement(f"DROP TABLE IF EXISTS {quote(self._schema)}.{quote(str(name))}")
            for (name,) in found
        ]
        if drops:
            self._executor.transaction(drops)

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
        stage = f"{self._table}__stage_{batch_id}"
        target = f"{quote(self._schema)}.{quote(stage)}"
        create = [
            Statement(f"DROP TABLE IF EXISTS {target}"),
            Statement(
                self._dialect.create_stage(self._schema, stage, columns, commit_ts=self._history)
            ),
        ]
        mark = time.monotonic()
        folder = None
        if self._staging is None:
            self._executor.transaction(create)
            self._copy_from_executors(staged, changes, payload, target)
        else:
            folder = self._stage_on_s3(staged, changes, payload, batch_id, writer_id)
            load = self._staging.load(self._dialect, self._schema, stage, folder)
            self._executor.transaction([*create, *load])
        timings["stage_s"] = time.monotonic() - mark
        crash_point("warehouse.after_staging")

        mark = time.monotonic()
        refreshed = self._merge(stage, payload, writer_id, batch_id)
        timings["merge_s"] = time.monotonic() - mark
        crash_point("warehouse.after_commit")
        rows = self._executor.query(
            self._dialect.ledger_counts(self._schema, self._table, writer_id, batch_id)
        )
        upserts, deletes, stale = (int(v) for v in rows[0])
        self._executor.transaction([Statement(f"DROP TABLE IF EXISTS {target}")])
        if folder is not None:
            self._clean(folder, batch_id)
        timings["total_s"] = time.monotonic() - started
        return BatchResult(
            batch_id=batch_id,
            changes_in=upserts + deletes + stale,
            upserts=upserts,
            deletes=deletes,
            stale=stale,
            refreshed=refreshed,
            timings=timings,
        )

    def _copy_from_executors(
        self, staged: DataFrame, changes: DataFrame, payload: Sequence[str], target: str
    ) -> None:
        """COPY FROM STDIN, one stream per partition, from the executors."""
        assert self._settings is not None  # checked in __init__
        commit_ts = [_as_utc_text(changes, COMMIT_TS)] if self._history else []
        rows = staged.select(
            *[_as_utc_text(changes, c) for c in payload], *_STAGE_COLUMNS, *commit_ts
        )
        settings, names = self._settings, list(rows.columns)
        rows.foreachPartition(lambda part: _copy_rows(settings, target, names, part))

    def _stage_on_s3(
        self,
        staged: DataFrame,
        changes: DataFrame,
        payload: Sequence[str],
        batch_id: int,
        writer_id: str,
    ) -> str:
        """Parquet from the executors, columns in the stage table's order and types."""
        assert self._staging is not None
        commit_ts = [COMMIT_TS] if self._history else []
        rows = staged.select(
            *[parquet_column(changes, c) for c in payload], *_STAGE_COLUMNS, *commit_ts
        )
        return self._staging.write(rows, self._table, writer_id, batch_id)

    def _merge(self, stage: str, payload: Sequence[str], writer_id: str, batch_id: int) -> int:
        """The batch's one transaction; how many denormalized rows it rewrote."""
        statements = [
            Statement(d.lock(self._dialect, self._schema)) for d in self._denormalized
        ]  # first: refreshes run one at a time
        if self._history:
            merge = self._dialect.history_merge(
                self._schema, self._table, stage, payload, self._keys
            )
            counts, cleanup = (
                self._dialect.history_counts(stage),
                self._dialect.drop_history_temps(stage),
            )
        else:
            merge = self._dialect.merge(self._schema, self._table, stage, payload, self._keys)
            counts, cleanup = (
                self._dialect.merge_counts(stage),
                [self._dialect.drop_accepted(stage)],
            )
        statements += [Statement(s) for s in merge]
        refreshes: list[int] = []  # positions of the INSERTs that rebuild denormalized rows
        if not self._history:
            accepted = self._dialect.accepted(stage)
            for denormalized in self._denormalized:
                for sql in denormalized.refresh(self._schema, self._table, self._keys, accepted):
                    if sql.startswith("INSERT"):
                        refreshes.append(len(statements))
                    statements.append(Statement(sql))
        statements.append(
            self._dialect.record_batch(
                self._schema, self._table, stage, counts, writer_id=writer_id, batch_id=batch_id
            )
        )
        statements += [Statement(s) for s in cleanup]
        affected = self._executor.transaction(statements)
        return sum(affected[i] for i in refreshes)

    def _clean(self, folder: str, batch_id: int) -> None:
        """Delete a committed batch's staged objects; a failure only leaves garbage."""
        assert self._staging is not None
        try:
            removed = self._staging.cleanup(folder)
        except Exception as error:
            log.warning(
                "warehouse %s: staged objects of batch %d not removed (%s)",
                self._table,
                batch_id,
                type(error).__name__,
            )
            return
        log.info(
            "warehouse %s: %d staged objects of batch %d removed", self._table, removed, batch_id
        )

    def ensure_tables(self, columns: Sequence[Column]) -> None:
        """Create the table, its key table, the ledger and the denormalized tables it feeds;
        add the columns a batch brings that the table lacks (a new source column)."""
        if self._known is not None and all(c.name in self._known for c in columns):
            return
        by_name = {c.name: c for c in columns}
        if self._known is None:
            creates = [f"CREATE SCHEMA IF NOT EXISTS {quote(self._schema)}"]
            key_columns = [by_name[k] for k in self._keys]
            if self._history:
                creates += [
                    self._dialect.create_history(self._schema, self._table, columns, self._keys),
                    self._dialect.create_events(self._schema, self._table, key_columns),
                ]
            else:
                creates += [
                    self._dialect.create_target(self._schema, self._table, columns, self._keys),
                    self._dialect.create_keys(self._schema, self._table, key_columns),
                ]
            creates.append(self._dialect.create_ledger(self._schema))
            creates += [d.create(self._dialect, self._schema) for d in self._denormalized]
            self._executor.transaction([Statement(s) for s in creates])
        rows = self._executor.query(
            Statement(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = :schema AND table_name = :table_name",
                {"schema": self._schema, "table_name": self._table},
            )
        )
        known = {str(row[0]) for row in rows}
        missing = [c for c in columns if c.name not in known]
        if missing:
            self._executor.transaction(
                [Statement(self._dialect.add_column(self._schema, self._table, c)) for c in missing]
            )
            for column in missing:
                known.add(column.name)
                log.info("warehouse %s: column %s added", self._table, column.name)
        self._known = known

    def _committed(self, writer_id: str, batch_id: int) -> bool:
        rows = self._executor.query(
            self._dialect.ledger_counts(self._schema, self._table, writer_id, batch_id)
        )
        return bool(rows)


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

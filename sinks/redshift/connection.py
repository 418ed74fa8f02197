"""How the warehouse engine reaches its database: connection settings and executors.

A driver connection (psycopg for PostgreSQL, redshift_connector for Amazon Redshift)
or the Redshift Data API (data_api.py); both run the same statements (statements.py),
each binding parameters the way its driver does.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from aws import AwsSettings, client
from config import DataApiConnection, RedshiftTarget
from sinks.redshift.statements import Executor, Statement

__all__ = ["ConnectionSettings", "DriverExecutor", "executor_of", "settings_of"]


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything a driver needs to connect; the password never reaches a log."""

    dialect: str  # "postgres" | "redshift"
    host: str
    port: int
    database: str
    user: str
    password: str
    connect_timeout_s: int = 10

    def __repr__(self) -> str:
        return f"ConnectionSettings({self.location})"

    @property
    def location(self) -> str:
        return f"{self.dialect}://{self.user}@{self.host}:{self.port}/{self.database}"

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


def settings_of(target: RedshiftTarget, password: SecretStr) -> ConnectionSettings:
    """How to reach a configured warehouse over a driver connection."""
    if target.host is None or target.user is None:
        raise ValueError("target: a driver connection needs host and user")
    return ConnectionSettings(
        dialect=target.dialect,
        host=target.host,
        port=target.port,
        database=target.database,
        user=target.user,
        password=password.get_secret_value(),
        connect_timeout_s=target.connect_timeout_s,
    )


class _Idle:
    """Open connections of one warehouse between calls, shared by its tables' engines: a
    source batch makes about five calls (the ledger twice, then its create, merge and drop
    transactions), and a new connection is a round trip and an
    authentication more each time (10 ms on loopback, more with TLS to Redshift). At
    most `keep` wait here, none longer than `max_idle_s` (a server closes idle ones).
    When a call fails, its connection and every waiting one are closed: a warehouse that
    restarted has closed them all, and the retry starts on a new one."""

    def __init__(self, keep: int = 4, max_idle_s: float = 60.0) -> None:
        self._keep = keep
        self._max_idle_s = max_idle_s
        self._lock = threading.Lock()
        self._open: list[tuple[float, Any]] = []  # (since, connection), newest last

    def take(self) -> Any | None:
        with self._lock:
            while self._open:
                since, conn = self._open.pop()
                if time.monotonic() - since <= self._max_idle_s and not _closed(conn):
                    return conn
                _close(conn)
        return None

    def clear(self) -> None:
        with self._lock:
            waiting, self._open = self._open, []
        for _, conn in waiting:
            _close(conn)

    def give(self, conn: Any) -> None:
        with self._lock:
            if len(self._open) < self._keep:
                self._open.append((time.monotonic(), conn))
                return
        _close(conn)


def _close(conn: Any) -> None:
    with suppress(Exception):  # one the server dropped may fail to say goodbye
        conn.close()


def _closed(conn: Any) -> bool:
    """Whether a waiting connection is known dead, without a round trip. An idle session
    has nothing to say, so a psycopg connection with something to read is one the server
    is closing (its farewell, then the end of the socket). redshift_connector cannot
    tell; a call that fails on it clears the waiting ones."""
    if getattr(conn, "closed", False):
        return True
    pgconn = getattr(conn, "pgconn", None)
    if pgconn is None:
        return False
    try:
        readable, _, _ = select.select([pgconn.socket], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


_IDLE: dict[ConnectionSettings, _Idle] = {}
_IDLE_LOCK = threading.Lock()


def _idle_of(settings: ConnectionSettings) -> _Idle:
    with _IDLE_LOCK:
        return _IDLE.setdefault(settings, _Idle())


class DriverExecutor:
    """The engine's statements over a driver connection: each call in a connection of its
    own, taken from those the warehouse's earlier calls left open (`_Idle`)."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self._settings = settings
        self._idle = _idle_of(settings)
        self.location = f"{settings.dialect}://{settings.host}:{settings.port}/{settings.database}"

    def query(self, statement: Statement) -> list[tuple[Any, ...]]:
        with self._connection() as conn:
            cur = conn.cursor()
            self._execute(cur, statement)
            rows = [tuple(r) for r in cur.fetchall()]
            conn.commit()
            return rows

    def transaction(self, statements: Sequence[Statement]) -> list[int]:
        with self._connection() as conn:
            cur = conn.cursor()
            counts = []
            for statement in statements:
                self._execute(cur, statement)
                counts.append(max(int(cur.rowcount), 0))
            conn.commit()
            return counts

    def _execute(self, cur: Any, statement: Statement) -> None:
        if not statement.params:
            cur.execute(statement.sql)
        elif self._settings.dialect == "postgres":
            from psycopg import sql

            fields = {name: sql.Placeholder(name) for name in statement.params}
            cur.execute(sql.SQL(statement.sql).format(**fields), dict(statement.params))
        else:
            cur.paramstyle = "named"  # redshift_connector binds :name itself
            cur.execute(statement.text(":{}"), dict(statement.params))

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        conn = self._idle.take() or self._settings.connect()
        try:
            yield conn
        except BaseException:
            _close(conn)
            self._idle.clear()
            raise
        self._idle.give(conn)


def executor_of(target: RedshiftTarget, aws: AwsSettings, password: SecretStr | None) -> Executor:
    """The configured way of running statements: a driver connection or the Data API."""
    connection = target.connection
    if isinstance(connection, DataApiConnection):
        from sinks.redshift.data_api import DataApiExecutor

        return DataApiExecutor(
            client("redshift-data", aws),
            database=target.database,
            workgroup=connection.workgroup,
            cluster_id=connection.cluster_id,
            db_user=connection.db_user,
            secret_arn=connection.secret_arn,
            timeout_s=connection.timeout_s,
        )
    if password is None:
        raise ValueError("a driver connection needs the warehouse password")
    return DriverExecutor(settings_of(target, password))

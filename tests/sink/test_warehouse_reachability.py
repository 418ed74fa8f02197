"""Which warehouse failures a batch retries: real driver errors from a real server."""

from __future__ import annotations

import socket

import psycopg
import pytest
from pyspark.sql import SparkSession

from sinks.redshift import ConnectionSettings
from sinks.redshift.retry import unreachable


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_connection_is_unreachable(postgres: ConnectionSettings) -> None:
    closed = ConnectionSettings(**{**postgres.__dict__, "port": _closed_port()})
    with pytest.raises(psycopg.OperationalError) as raised:
        closed.connect()
    assert unreachable(raised.value)


def test_a_server_shutting_down_the_session_is_unreachable(postgres: ConnectionSettings) -> None:
    """What a stopping server sends (psycopg.errors.AdminShutdown), not only OperationalError."""
    with postgres.connect() as victim, postgres.connect() as admin:
        pid = victim.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.Error) as raised:
            victim.execute("SELECT 1")
    assert type(raised.value).__name__ != "OperationalError"  # a subclass: the case that failed
    assert unreachable(raised.value)


def test_a_wrong_statement_is_not_retried(postgres: ConnectionSettings) -> None:
    with postgres.connect() as conn, pytest.raises(psycopg.Error) as raised:
        conn.execute("SELECT * FROM no_such_table")
    assert not unreachable(raised.value)


def test_an_executor_losing_its_connection_is_unreachable_from_the_driver(
    spark: SparkSession, postgres: ConnectionSettings
) -> None:
    closed = ConnectionSettings(**{**postgres.__dict__, "port": _closed_port()})

    def connect(_rows: object) -> None:
        closed.connect()

    with pytest.raises(Exception) as raised:
        spark.range(1).foreachPartition(connect)
    assert "psycopg" in str(raised.value)
    assert unreachable(raised.value)


def test_an_executor_failing_otherwise_is_not_retried(spark: SparkSession) -> None:
    def fail(_rows: object) -> None:
        raise ValueError("a bug, not the network")

    with pytest.raises(Exception) as raised:
        spark.range(1).foreachPartition(fail)
    assert not unreachable(raised.value)

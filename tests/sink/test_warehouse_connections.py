"""The warehouse's driver connections are kept open between calls and dropped when one
fails: a real server."""

from __future__ import annotations

import psycopg
import pytest

from sinks.redshift import ConnectionSettings
from sinks.redshift.connection import DriverExecutor
from sinks.redshift.statements import Statement

PID = Statement("SELECT pg_backend_pid()")


def _pid(executor: DriverExecutor) -> int:
    return int(executor.query(PID)[0][0])


def test_calls_of_every_table_reuse_the_warehouses_open_connections(
    postgres: ConnectionSettings,
) -> None:
    first, second = DriverExecutor(postgres), DriverExecutor(postgres)  # two tables' engines
    pid = _pid(first)
    first.transaction([Statement("SELECT 1")])
    assert _pid(first) == pid
    assert _pid(second) == pid


def test_connections_the_warehouse_closed_meanwhile_are_not_reused(
    postgres: ConnectionSettings,
) -> None:
    executor = DriverExecutor(postgres)
    with executor._connection() as one, executor._connection() as two:  # two tables at once
        pids = {one.info.backend_pid, two.info.backend_pid}
    with postgres.connect() as admin:  # what a warehouse restart does to open sessions
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))  # waits till gone

    assert _pid(executor) not in pids  # no failed call, and a new connection


def test_a_failed_statement_does_not_leave_its_transaction_to_the_next_call(
    postgres: ConnectionSettings,
) -> None:
    executor = DriverExecutor(postgres)
    executor.transaction([Statement("CREATE TABLE IF NOT EXISTS kept_or_not (v int)")])
    executor.transaction([Statement("DELETE FROM kept_or_not")])
    with pytest.raises(psycopg.Error):
        executor.transaction(
            [Statement("INSERT INTO kept_or_not VALUES (1)"), Statement("SELECT * FROM missing")]
        )
    executor.transaction([Statement("INSERT INTO kept_or_not VALUES (2)")])
    assert executor.query(Statement("SELECT v FROM kept_or_not")) == [(2,)]

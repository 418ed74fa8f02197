"""The sports source database: schema, connection, transactions and the state read back.

The four tables (``TABLES``, their DDL and the INSERT statements of the initial load), the
connection settings, the transaction helper every command writes through, and
``current_state``, one consistent snapshot of every row. ``SimulatorError`` is the error for
a request the database state cannot satisfy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias

import pymysql
from pymysql.connections import Connection
from pymysql.cursors import Cursor, DictCursor

__all__ = [
    "INSERTS",
    "TABLES",
    "Conn",
    "SimulatorError",
    "connect",
    "create_tables",
    "current_state",
    "select_ids",
    "transaction",
]

# Generic only in the type stubs, not at run time.
Conn: TypeAlias = "Connection[Cursor]"

# Primary key of each table, in the order the tables are created and read.
TABLES: dict[str, str] = {
    "sport_event": "event_id",
    "ticket": "ticket_id",
    "customer": "customer_id",
    "ticket_activity": "ticket_id",
}
_DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS sport_event (
    event_id INT NOT NULL PRIMARY KEY,
    sport_type VARCHAR(32),
    start_date DATE,
    location VARCHAR(128)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE IF NOT EXISTS ticket (
    ticket_id INT NOT NULL PRIMARY KEY,
    event_id INT,
    seat_level VARCHAR(32),
    seat_location VARCHAR(16),
    ticket_price DECIMAL(10,2),
    KEY ticket_event_id (event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE IF NOT EXISTS customer (
    customer_id INT NOT NULL PRIMARY KEY,
    name VARCHAR(128),
    email VARCHAR(256),
    phone VARCHAR(64)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE IF NOT EXISTS ticket_activity (
    ticket_id INT NOT NULL PRIMARY KEY,
    purchased_by INT,
    created_at DATETIME(6),
    updated_at DATETIME(6),
    KEY ticket_activity_purchased_by (purchased_by)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
)

INSERTS: dict[str, str] = {
    "sport_event": "INSERT INTO sport_event (event_id, sport_type, start_date, location)"
    " VALUES (%s, %s, %s, %s)",
    "ticket": "INSERT INTO ticket (ticket_id, event_id, seat_level, seat_location, ticket_price)"
    " VALUES (%s, %s, %s, %s, %s)",
    "customer": "INSERT INTO customer (customer_id, name, email, phone) VALUES (%s, %s, %s, %s)",
}


class SimulatorError(RuntimeError):
    """A request the database state cannot satisfy (unknown ticket, nothing left to sell).

    Messages carry ids and counts only, never row values.
    """


def connect(host: str, port: int, user: str, password: str, database: str) -> Conn:
    """A connection with explicit transactions and bounded waits.

    The session time zone is UTC so ``NOW(6)`` stores UTC wall-clock time, which is how
    Debezium and DMS read a ``DATETIME``: latency computed from it is then correct.
    """
    return pymysql.connect(
        host=host,
        port=port,
        user=user,
        password=password,
        database=database,
        charset="utf8mb4",
        autocommit=False,
        connect_timeout=10,
        read_timeout=60,
        write_timeout=60,
        init_command="SET time_zone = '+00:00'",
    )


@contextmanager
def transaction(conn: Conn) -> Iterator[Cursor]:
    """BEGIN first, so reads never see a snapshot left open by an earlier statement."""
    conn.begin()
    cur = conn.cursor()
    try:
        yield cur
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        cur.close()


def create_tables(conn: Conn) -> None:
    """Create the four source tables if missing (DDL commits implicitly in MySQL/MariaDB)."""
    with conn.cursor() as cur:
        for statement in _DDL:
            cur.execute(statement)
    conn.commit()


def current_state(conn: Conn) -> dict[str, list[dict[str, Any]]]:
    """Every row of the four tables, ordered by key, read in one consistent snapshot.

    Values keep their driver types (``int``, ``str``, ``date``, ``Decimal``, ``datetime``)
    so a verifier compares them with the target without parsing. Ends any transaction the
    caller left open (BEGIN commits it).
    """
    conn.begin()
    state: dict[str, list[dict[str, Any]]] = {}
    try:
        with conn.cursor(DictCursor) as cur:
            for table, key in TABLES.items():
                cur.execute(f"SELECT * FROM {table} ORDER BY {key}")
                state[table] = list(cur.fetchall())
    finally:
        conn.commit()
    return state


def select_ids(cur: Cursor, sql: str, args: Sequence[Any] = ()) -> list[int]:
    cur.execute(sql, args)
    return [int(row[0]) for row in cur.fetchall()]

"""Faker simulators of the seed's sports-ticketing source database (MariaDB/MySQL).

Why: the seed pipeline was only ever fed by three Glue Python shell jobs (initial load,
one purchase a minute, an administrator's reassignment), so it never saw a delete, a
customer changing, a customer created after the dimensions were read, or a burst of
changes. These commands produce all of that on a real server with a row binlog, so the
capture (Debezium, DMS) and the job run against real change events, and ``current_state``
reads the source back so a test can compare it with the target. Everything is derived from
a seed and the database state, SQL values are parameters, and nothing prints row values.

This module is the public interface; the code lives in ``sports_db`` (schema, connection,
transactions, ``current_state``), ``sports_data`` (seeded Faker values), ``sports_changes``
(id pools and single row changes), ``sports_simulator`` (``Simulator`` and its results) and
``sports_cli`` (the command line).

CLI: ``python -m simulators.sports COMMAND [options]``; ``--help`` lists the commands.
"""

from __future__ import annotations

from simulators.sports_cli import main
from simulators.sports_data import SPORT_TYPES
from simulators.sports_db import (
    TABLES,
    Conn,
    SimulatorError,
    connect,
    create_tables,
    current_state,
)
from simulators.sports_simulator import (
    BulkResult,
    IncrementalResult,
    InitialResult,
    Reassignment,
    Simulator,
)

__all__ = [
    "SPORT_TYPES",
    "TABLES",
    "BulkResult",
    "Conn",
    "IncrementalResult",
    "InitialResult",
    "Reassignment",
    "Simulator",
    "SimulatorError",
    "connect",
    "create_tables",
    "current_state",
    "main",
]

if __name__ == "__main__":
    raise SystemExit(main())

"""Watches tables for new rows: when each first shows, against its commit time.

Each watched table has `ticket_id` and `created_at` (the UTC time of the insert, just
before its commit). The poller asks PostgreSQL every `POLL_S` seconds, so a latency is
over-estimated by at most that (bench/e2e_latency.py).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg

__all__ = ["POLL_S", "Poller"]

POLL_S = 0.2


class Poller(threading.Thread):
    """Records when each new row first shows in each watched table (pipeline -> table,
    each with `ticket_id` and `created_at`); a table not created yet is asked again."""

    def __init__(self, tables: dict[str, str], warehouse: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.tables = tables
        self._warehouse = warehouse
        self.seen: dict[str, dict[tuple[int, datetime], float]] = {p: {} for p in tables}
        self.stop = threading.Event()
        self.since = datetime.now(UTC).replace(tzinfo=None)  # created_at is UTC, naive

    def run(self) -> None:
        with psycopg.connect(**self._warehouse, autocommit=True) as conn:
            while not self.stop.is_set():
                for pipeline, table in self.tables.items():
                    self._poll(conn, pipeline, table)
                time.sleep(POLL_S)

    def _poll(self, conn: psycopg.Connection[tuple[Any, ...]], pipeline: str, table: str) -> None:
        now = time.time()
        try:
            rows = conn.execute(
                f"SELECT ticket_id, created_at FROM {table} WHERE created_at >= %s",
                (self.since,),
            ).fetchall()
        except psycopg.errors.UndefinedTable:
            return
        seen = self.seen[pipeline]
        for ticket_id, created_at in rows:
            if (ticket_id, created_at) not in seen:
                committed = created_at.replace(tzinfo=UTC).timestamp()
                seen[ticket_id, created_at] = now - committed

"""The latency benchmark's floor (bench/jdbc_floor.py) on the local stack: Debezium's JDBC
sink connector, fetched from Maven Central by `local/stack`, upserts the purchases of
`sports.ticket_activity` into a table of its own, delivers nothing while paused and what
it missed once resumed (the benchmark measures each pipeline with the other paused), and
leaves nothing behind once removed.
bench/e2e_latency.py compares the job with it; this checks that what it compares with
works (its connectors' configs, the plugin on the Connect worker)."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.e2e_latency import SOURCE, WAREHOUSE
from bench.jdbc_floor import CONNECT, SINK_NAME, SOURCE_NAME, Floor
from simulators.sports import Simulator, connect

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.stack


def floor_rows(table: str) -> set[int]:
    with psycopg.connect(**WAREHOUSE, autocommit=True) as conn:  # type: ignore[arg-type]
        try:
            rows = conn.execute(f'SELECT ticket_id FROM public."{table}"').fetchall()
        except psycopg.errors.UndefinedTable:
            return set()
    return {int(r[0]) for r in rows}


def sold_since(source: Any, since: datetime) -> set[int]:
    with source.cursor() as cur:
        cur.execute("SELECT ticket_id FROM ticket_activity WHERE created_at >= %s", (since,))
        found = {int(r[0]) for r in cur.fetchall()}
    source.commit()
    return found


def registered(name: str) -> bool:
    try:
        with urllib.request.urlopen(f"{CONNECT}/connectors/{name}", timeout=10):
            return True
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise


def sell(simulator: Simulator, source: Any, count: int) -> set[int]:
    since = datetime.now(UTC).replace(tzinfo=None)
    simulator.incremental(count=count, new_customer_share=0.0)
    return sold_since(source, since)


def test_the_floor_upserts_new_purchases_into_its_own_table_then_leaves_nothing() -> None:
    up = subprocess.run(
        [str(REPO / "local" / "stack"), "up"],
        check=False,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert up.returncode == 0, up.stderr[-2000:]
    source = connect(*SOURCE)
    simulator = Simulator(source, seed=11)
    simulator.initial(events=2, tickets_per_event=50, customers=20)
    floor = Floor(uuid.uuid4().hex[:8], WAREHOUSE)
    try:
        floor.start()
        deadline = time.monotonic() + 180
        # The new source connector reads the binlog from where it stood when it started:
        # sell until a sale shows in the floor's table; every later one must arrive.
        while not floor_rows(floor.table) and time.monotonic() < deadline:
            simulator.incremental(count=3, new_customer_share=0.0)
            time.sleep(2)
        sold = sell(simulator, source, 10)
        while not sold <= floor_rows(floor.table) and time.monotonic() < deadline:
            time.sleep(1)
        assert len(sold) == 10 and sold <= floor_rows(floor.table)

        floor.pause()
        paused = sell(simulator, source, 5)
        time.sleep(8)  # the floor delivers a sale within a second when it runs
        assert len(paused) == 5 and not paused & floor_rows(floor.table)
        floor.resume()
        while not paused <= floor_rows(floor.table) and time.monotonic() < deadline:
            time.sleep(1)
        assert paused <= floor_rows(floor.table)
    finally:
        floor.remove()
        source.close()
    assert not registered(SOURCE_NAME) and not registered(SINK_NAME)
    with psycopg.connect(**WAREHOUSE, autocommit=True) as conn:  # type: ignore[arg-type]
        left = conn.execute("SELECT to_regclass(%s)", (f'public."{floor.table}"',)).fetchone()
    assert left == (None,)

"""The sports source simulators against a real MariaDB from ``local/stack up mariadb``.

The tests use their own database (``sports_simtest``, created through the stack's admin
socket) so they never touch ``sports``, which the Debezium connector captures and other
work may be using. The server is stopped at the end only if this session started it.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simulators.sports import (
    SPORT_TYPES,
    TABLES,
    BulkResult,
    Conn,
    Simulator,
    SimulatorError,
    connect,
    current_state,
    main,
)

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "local" / "stack"

pytestmark = pytest.mark.stack
HOST, PORT, USER = "127.0.0.1", 3307, "cdc"
DATABASE = "sports_simtest"
# Faker en_US formats, as in the seed: +1-296-605-8486, 087-237-9316x2670, (591)341-7776,
# 591.341.7776, 5913417776.
PHONE = re.compile(r"^(\+1-|001-)?(\(\d{3}\)|\d{3})[-.]?\d{3}[-.]?\d{4}(x\d{3,5})?$")

State = dict[str, list[dict[str, Any]]]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((HOST, port)) == 0


def _stack(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STACK), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


def _admin(sql: str) -> None:
    """Run SQL as the stack's admin account (unix socket auth as the user who started it)."""
    proc = subprocess.run(
        [
            "mariadb",
            f"--defaults-file={REPO / 'work' / 'stack' / 'mariadb' / 'my.cnf'}",
            "-u",
            getpass.getuser(),
            "-e",
            sql,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"admin SQL on the stack's MariaDB failed: {proc.stderr.strip()}")


@dataclass(frozen=True)
class Db:
    database: str

    def connect(self) -> Conn:
        return connect(HOST, PORT, USER, "cdc", self.database)

    def cli(self, *args: str) -> list[str]:
        return [*args, "--host", HOST, "--port", str(PORT), "--database", self.database]


@pytest.fixture(scope="session")
def mariadb() -> Iterator[Db]:
    started = False
    if not _port_open(PORT):
        t0 = time.monotonic()
        up = _stack("up", "mariadb", timeout=300)
        if up.returncode != 0:
            pytest.fail(f"local/stack up mariadb failed ({up.returncode}):\n{up.stderr[-2000:]}")
        started = True
        print(f"\nlocal/stack up mariadb: {time.monotonic() - t0:.1f} s", file=sys.stderr)
    try:
        _admin(
            f"DROP DATABASE IF EXISTS {DATABASE}; CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4;"
            f" GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{USER}'@'%';"
        )
        yield Db(DATABASE)
        _admin(f"DROP DATABASE IF EXISTS {DATABASE};")
    finally:
        if started:
            down = _stack("down", timeout=120)
            assert down.returncode == 0, down.stderr[-2000:]


@pytest.fixture
def conn(mariadb: Db, monkeypatch: pytest.MonkeyPatch) -> Iterator[Conn]:
    """A connection to empty tables; the CLI finds the stack's default password."""
    monkeypatch.delenv("SPORTS_DB_PASSWORD", raising=False)
    c = mariadb.connect()
    with c.cursor() as cur:
        for table in TABLES:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
    c.commit()
    try:
        yield c
    finally:
        c.close()


def _counts(state: State) -> dict[str, int]:
    return {table: len(rows) for table, rows in state.items()}


def _by_key(state: State, table: str) -> dict[int, dict[str, Any]]:
    key = TABLES[table]
    return {int(row[key]): row for row in state[table]}


def _without_times(state: State) -> State:
    drop = {"created_at", "updated_at"}
    return {
        t: [{k: v for k, v in r.items() if k not in drop} for r in rows]
        for t, rows in state.items()
    }


def _seeded(conn: Conn, sold: int = 0) -> Simulator:
    sim = Simulator(conn, seed=42)
    sim.initial(events=5, tickets_per_event=8, customers=30)
    if sold:
        sim.incremental(count=sold, new_customer_share=0.0)
    return sim


def test_initial_loads_the_counts_asked_and_a_second_run_adds_nothing(
    conn: Conn, mariadb: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    first = Simulator(conn).initial(events=5, tickets_per_event=8, customers=30)
    before = current_state(conn)
    initial = ("initial", "--events", "5", "--tickets-per-event", "8", "--customers", "30")
    assert main(mariadb.cli(*initial)) == 0
    assert main(mariadb.cli("state")) == 0
    after = current_state(conn)

    assert (first.events, first.tickets, first.customers) == (5, 40, 30)
    assert capsys.readouterr().out.splitlines() == [
        "initial: added sport_event=0 ticket=0 customer=0",
        "state: sport_event=5 ticket=40 customer=30 ticket_activity=0",
    ]
    assert after == before
    assert _counts(after) == {"sport_event": 5, "ticket": 40, "customer": 30, "ticket_activity": 0}
    assert [r["ticket_id"] for r in after["ticket"]] == list(range(1, 41))
    assert {r["event_id"] for r in after["ticket"]} == {1, 2, 3, 4, 5}
    assert all(r["sport_type"] in SPORT_TYPES for r in after["sport_event"])
    assert all(r["location"].endswith(", US") for r in after["sport_event"])
    assert all(re.fullmatch(r"[SPV]-\d+", r["seat_location"]) for r in after["ticket"])
    emails = [r["email"] for r in after["customer"]]
    assert len(set(emails)) == len(emails)
    assert all(e.endswith(("@example.com", "@example.net", "@example.org")) for e in emails)
    phones = [r["phone"] for r in after["customer"]]
    assert all(PHONE.match(p) for p in phones), "phone outside the seed's formats"
    assert any("x" in p for p in phones), "no phone with an extension"


def test_incremental_count_inserts_exactly_n_rows_with_valid_foreign_keys(
    conn: Conn, mariadb: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    _seeded(conn)
    assert main(mariadb.cli("incremental", "--count", "37", "--new-customer-share", "0")) == 0
    state = current_state(conn)

    assert capsys.readouterr().out.startswith("incremental: 37 purchases, 0 new customers")
    assert len(state["ticket_activity"]) == 37
    tickets, customers = _by_key(state, "ticket"), _by_key(state, "customer")
    for row in state["ticket_activity"]:
        assert row["ticket_id"] in tickets
        assert row["purchased_by"] in customers
        assert row["created_at"] == row["updated_at"]
    with pytest.raises(SimulatorError, match="only 3 unsold tickets"):
        Simulator(conn).incremental(count=4)


def test_incremental_at_a_rate_runs_for_the_duration_and_logs_counts_only(conn: Conn) -> None:
    lines: list[str] = []
    sim = Simulator(conn, log=lines.append)
    sim.initial(events=5, tickets_per_event=8, customers=30)

    result = sim.incremental(rate=20, duration=1.0, progress_every=0.3)

    assert 15 <= result.purchases <= 20
    assert 0.9 <= result.seconds < 1.6
    assert len(current_state(conn)["ticket_activity"]) == result.purchases
    assert lines
    assert all(re.fullmatch(r"incremental: [\d/ .,a-z]+/s", line) for line in lines)


def test_incremental_stops_when_no_ticket_is_left(conn: Conn) -> None:
    sim = _seeded(conn, sold=38)

    result = sim.incremental(rate=1000, duration=1.0)

    assert (result.purchases, result.exhausted) == (2, True)


def test_new_customers_appear_when_the_share_is_one(conn: Conn) -> None:
    sim = _seeded(conn)

    result = sim.incremental(count=10, new_customer_share=1.0)
    state = current_state(conn)

    assert result.new_customers == 10
    customers = _by_key(state, "customer")
    assert sorted(customers) == list(range(1, 41))
    assert sorted(r["purchased_by"] for r in state["ticket_activity"]) == list(range(31, 41))
    emails = [r["email"] for r in state["customer"]]
    assert len(set(emails)) == len(emails)


def test_upsert_changes_purchased_by_and_updated_at(
    conn: Conn, mariadb: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = _seeded(conn, sold=5)
    before = _by_key(current_state(conn), "ticket_activity")
    ticket = min(before)

    moved = sim.reassign(ticket)
    middle = _by_key(current_state(conn), "ticket_activity")
    assert main(mariadb.cli("upsert", "--ticket-id", str(ticket), "--customer-id", "7")) == 0
    after = _by_key(current_state(conn), "ticket_activity")

    assert moved.old_customer_id == before[ticket]["purchased_by"]
    assert middle[ticket]["purchased_by"] == moved.new_customer_id != moved.old_customer_id
    assert before[ticket]["updated_at"] < middle[ticket]["updated_at"] < after[ticket]["updated_at"]
    assert after[ticket]["created_at"] == before[ticket]["created_at"]
    assert after[ticket]["purchased_by"] == 7
    assert {k: v for k, v in after.items() if k != ticket} == {
        k: v for k, v in before.items() if k != ticket
    }
    assert capsys.readouterr().out == f"upsert: ticket {ticket} reassigned (1 row)\n"


def test_delete_removes_the_row_once(conn: Conn) -> None:
    sim = _seeded(conn, sold=5)
    before = _by_key(current_state(conn), "ticket_activity")
    ticket = max(before)

    sim.delete(ticket)
    after = _by_key(current_state(conn), "ticket_activity")

    assert after == {k: v for k, v in before.items() if k != ticket}
    with pytest.raises(SimulatorError, match=f"ticket {ticket} is not sold"):
        sim.delete(ticket)


def test_customer_update_changes_name_email_and_phone_of_buyers(conn: Conn, mariadb: Db) -> None:
    sim = _seeded(conn, sold=10)
    before = current_state(conn)
    buyers = {r["purchased_by"] for r in before["ticket_activity"]}

    changed = sim.update_customers(count=3)
    assert main(mariadb.cli("customer-update", "--customer-id", "1")) == 0
    after = current_state(conn)

    assert len(set(changed)) == 3 and set(changed) <= buyers
    old, new = _by_key(before, "customer"), _by_key(after, "customer")
    for cid in {*changed, 1}:
        assert all(new[cid][f] != old[cid][f] for f in ("name", "email", "phone"))
    assert {k: v for k, v in new.items() if k not in {*changed, 1}} == {
        k: v for k, v in old.items() if k not in {*changed, 1}
    }
    assert len({r["email"] for r in after["customer"]}) == len(after["customer"])


def _replay(before: State, result: BulkResult) -> tuple[set[int], set[int]]:
    """The sold tickets after ``result``'s changes, and the customers renamed."""
    sold = {int(r["ticket_id"]) for r in before["ticket_activity"]}
    renamed: set[int] = set()
    for kind, key in result.changes:
        if kind == "I":
            assert key not in sold, f"insert of sold ticket {key}"
            sold.add(key)
        elif kind == "C":
            renamed.add(key)
        else:
            assert key in sold, f"{kind} of unsold ticket {key}"
            if kind == "D":
                sold.remove(key)
    return sold, renamed


def test_bulk_counts_match_the_table_deltas(conn: Conn, mariadb: Db) -> None:
    sim = _seeded(conn, sold=12)
    before = current_state(conn)

    result = sim.bulk(
        inserts=20, updates=15, deletes=10, customer_updates=6, new_customer_share=0.2
    )
    after = current_state(conn)

    assert result.counts == {
        "inserts": 20,
        "updates": 15,
        "deletes": 10,
        "customer_updates": 6,
        "new_customers": len(result.new_customers),
    }
    assert result.new_customers
    delta = {t: len(after[t]) - len(before[t]) for t in TABLES}
    assert delta == {
        "sport_event": 0,
        "ticket": 0,
        "customer": len(result.new_customers),
        "ticket_activity": 20 - 10,
    }
    sold, renamed = _replay(before, result)
    new_rows = _by_key(after, "ticket_activity")
    assert set(new_rows) == sold
    old_rows = _by_key(before, "ticket_activity")
    touched = set(result.ids("U")) | set(result.ids("I"))
    assert {t for t in sold if old_rows.get(t) != new_rows[t]} <= touched
    assert all(new_rows[t] != old_rows[t] for t in set(result.ids("U")) & sold & set(old_rows))
    old_c, new_c = _by_key(before, "customer"), _by_key(after, "customer")
    assert {c for c in old_c if old_c[c] != new_c[c]} == renamed - set(result.new_customers)
    assert set(new_c) - set(old_c) == set(result.new_customers)
    assert main(mariadb.cli("bulk", "--inserts", "1", "--deletes", "1")) == 0


def test_bulk_is_deterministic_for_a_seed(conn: Conn) -> None:
    runs: list[tuple[BulkResult, State]] = []
    for _ in range(2):
        with conn.cursor() as cur:
            for table in TABLES:
                cur.execute(f"DROP TABLE IF EXISTS {table}")
        conn.commit()
        sim = _seeded(conn, sold=10)
        result = sim.bulk(inserts=10, updates=10, deletes=5, customer_updates=5)
        runs.append((result, _without_times(current_state(conn))))

    assert runs[0] == runs[1]


def test_cli_exits_2_with_a_clear_message_for_an_unknown_ticket(conn: Conn, mariadb: Db) -> None:
    _seeded(conn, sold=2)
    env = {k: v for k, v in os.environ.items() if k != "SPORTS_DB_PASSWORD"}
    for command in ("upsert", "delete"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "simulators.sports",
                *mariadb.cli(command, "--ticket-id", "999"),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip() == (
            "sports: error: ticket 999 is not sold (no ticket_activity row)"
        )
        assert proc.stdout == ""


def test_cli_exits_2_and_asks_for_initial_when_the_tables_are_missing(
    conn: Conn, mariadb: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(mariadb.cli("incremental", "--count", "1")) == 2
    assert "run 'initial' first" in capsys.readouterr().err


def test_cli_refuses_the_default_password_off_loopback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SPORTS_DB_PASSWORD", raising=False)

    assert main(["state", "--host", "192.0.2.1"]) == 2
    assert "set SPORTS_DB_PASSWORD" in capsys.readouterr().err

"""``Simulator``, the commands run against the sports source database, and their results.

The seed's source-side jobs (the initial load, customers buying tickets, an administrator
reassigning a ticket) plus what the seed never did: cancelled purchases, renamed customers
and a seeded mix of every change (``bulk``) whose log tests replay.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from pymysql.cursors import Cursor

from simulators.sports_changes import Book, ChangeWriter, Pool
from simulators.sports_data import initial_customers, initial_events, initial_tickets
from simulators.sports_db import (
    INSERTS,
    TABLES,
    Conn,
    SimulatorError,
    create_tables,
    select_ids,
    transaction,
)

__all__ = ["BulkResult", "IncrementalResult", "InitialResult", "Reassignment", "Simulator"]

_INSERT_CHUNK = 500


@dataclass(frozen=True)
class InitialResult:
    """Rows added per dimension table; all zero when the same load already ran."""

    events: int
    tickets: int
    customers: int


@dataclass(frozen=True)
class IncrementalResult:
    """What ``incremental`` did; ``exhausted`` means it stopped because no ticket was left."""

    purchases: int
    new_customers: int
    seconds: float
    exhausted: bool = False


@dataclass(frozen=True)
class Reassignment:
    """One administrator update of a sold ticket."""

    ticket_id: int
    old_customer_id: int
    new_customer_id: int


@dataclass(frozen=True)
class BulkResult:
    """The changes ``bulk`` made, in order: ``(kind, id)`` with kind ``I``/``U``/``D`` for a
    ticket_activity row (ticket id) and ``C`` for a customer (customer id); a key may repeat.

    Tests replay this log on the state before to get the expected state after.
    """

    changes: tuple[tuple[str, int], ...]
    new_customers: tuple[int, ...]

    def ids(self, kind: str) -> tuple[int, ...]:
        return tuple(key for k, key in self.changes if k == kind)

    @property
    def counts(self) -> dict[str, int]:
        kinds = Counter(k for k, _ in self.changes)
        return {
            "inserts": kinds["I"],
            "updates": kinds["U"],
            "deletes": kinds["D"],
            "customer_updates": kinds["C"],
            "new_customers": len(self.new_customers),
        }


class Simulator(ChangeWriter):
    """The seed's source-side jobs, plus the changes it never made (deletes, renames).

    Each public method runs its own short transactions and commits them; picks are drawn
    from one ``random.Random(seed)``, so the same calls on the same database state make
    the same changes. ``log`` receives progress lines (counts only).
    """

    def __init__(
        self,
        conn: Conn,
        *,
        seed: int = 42,
        log: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(seed)
        self.conn = conn
        self.seed = seed
        self._log = log
        self._clock = clock
        self._sleep = sleep

    # --- the initial load (rds-ingest-data-initial) ----------------------------------

    def initial(
        self, *, events: int = 50, tickets_per_event: int = 20, customers: int = 500
    ) -> InitialResult:
        """Create the tables and add the dimension rows whose ids are missing.

        Rows are a function of (seed, id), so a rerun adds nothing and a bigger rerun adds
        only the new ids. Customers created later by ``incremental`` keep their rows.
        """
        for name, value in (
            ("events", events),
            ("tickets_per_event", tickets_per_event),
            ("customers", customers),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        create_tables(self.conn)
        wanted = {
            "sport_event": initial_events(self.seed, events),
            "ticket": initial_tickets(self.seed, events, tickets_per_event),
            "customer": initial_customers(self.seed, customers),
        }
        added: dict[str, int] = {}
        for table, rows in wanted.items():
            key = TABLES[table]
            with transaction(self.conn) as cur:
                have = set(select_ids(cur, f"SELECT {key} FROM {table}"))
                missing = [row for row in rows if row[0] not in have]
                for i in range(0, len(missing), _INSERT_CHUNK):
                    cur.executemany(INSERTS[table], missing[i : i + _INSERT_CHUNK])
            added[table] = len(missing)
        return InitialResult(added["sport_event"], added["ticket"], added["customer"])

    # --- customers buying tickets (rds-ingest-data-incremental) -----------------------

    # long: one loop paces the purchases by the clock; its state (done, due, next report)
    # would only be passed around if it were split.
    def incremental(
        self,
        *,
        rate: float | None = None,
        duration: float | None = None,
        count: int | None = None,
        new_customer_share: float = 0.05,
        batch_size: int = 20,
        progress_every: float = 5.0,
    ) -> IncrementalResult:
        """Sell tickets at ``rate`` per second for ``duration`` seconds, or exactly ``count``.

        ``count`` without ``rate`` runs as fast as the server allows. Each transaction holds
        at most ``batch_size`` purchases. With ``duration``, running out of unsold tickets
        ends the run early (``exhausted``); with ``count``, too few tickets is an error
        raised before anything is written.
        """
        _check_incremental(rate, duration, count, new_customer_share, batch_size)
        with transaction(self.conn) as cur:
            unsold, _, customers = self._pools(cur)
        if count is not None:
            target = count
            if len(unsold) < count:
                raise SimulatorError(f"only {len(unsold)} unsold tickets, {count} purchases asked")
        else:
            assert rate is not None and duration is not None
            target = math.ceil(rate * duration)

        start = self._clock()
        deadline = None if duration is None else start + duration
        next_report = start + progress_every
        done = new_customers = 0
        exhausted = False
        while done < target and not exhausted:
            now = self._clock()
            if deadline is not None and now >= deadline:
                break
            # Purchase k (0-based) is due at start + k / rate.
            due = target if rate is None else min(target, math.floor((now - start) * rate) + 1)
            if due <= done:
                assert rate is not None
                wait = start + done / rate - now
                if deadline is not None:
                    wait = min(wait, deadline - now)
                self._sleep(max(wait, 0.001))
                continue
            with transaction(self.conn) as cur:
                for _ in range(min(due - done, batch_size)):
                    bought = self._purchase(cur, unsold, customers, new_customer_share)
                    if bought is None:
                        exhausted = True
                        break
                    done += 1
                    new_customers += bought[2]
            now = self._clock()
            if self._log is not None and now >= next_report:
                self._log(
                    f"incremental: {done}/{target} purchases, {new_customers} new customers,"
                    f" {now - start:.1f} s, {done / max(now - start, 1e-9):.1f}/s"
                )
                next_report = now + progress_every
        if exhausted and self._log is not None:
            self._log(f"incremental: no unsold ticket left after {done} purchases, stopping")
        return IncrementalResult(done, new_customers, self._clock() - start, exhausted)

    # --- administrator changes (rds-upsert-data, and what the seed never did) ----------

    def reassign(self, ticket_id: int, customer_id: int | None = None) -> Reassignment:
        """Give a sold ticket to another customer (random unless given); bump updated_at."""
        with transaction(self.conn) as cur:
            cur.execute(
                "SELECT purchased_by FROM ticket_activity WHERE ticket_id = %s FOR UPDATE",
                (ticket_id,),
            )
            row = cur.fetchone()
            if row is None:
                raise SimulatorError(f"ticket {ticket_id} is not sold (no ticket_activity row)")
            old = int(row[0])
            if customer_id is None:
                customers = Pool(
                    select_ids(cur, "SELECT customer_id FROM customer ORDER BY customer_id")
                )
                picked = customers.pick(self.rng, other_than=old)
                if picked is None:
                    raise SimulatorError(f"no customer other than {old} to give the ticket to")
                customer_id = picked
            elif not select_ids(
                cur, "SELECT customer_id FROM customer WHERE customer_id = %s", (customer_id,)
            ):
                raise SimulatorError(f"customer {customer_id} does not exist")
            self._reassign(cur, ticket_id, customer_id)
        return Reassignment(ticket_id, old, customer_id)

    def delete(self, ticket_id: int) -> None:
        """Cancel a purchase: the ticket_activity row goes, the ticket can be sold again."""
        with transaction(self.conn) as cur:
            if cur.execute("DELETE FROM ticket_activity WHERE ticket_id = %s", (ticket_id,)) == 0:
                raise SimulatorError(f"ticket {ticket_id} is not sold (no ticket_activity row)")

    def update_customers(
        self, *, count: int | None = None, customer_id: int | None = None
    ) -> list[int]:
        """Rename ``count`` distinct buyers (default 1), or the one customer given."""
        if count is not None and customer_id is not None:
            raise ValueError("give count or customer_id, not both")
        if count is not None and count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        with transaction(self.conn) as cur:
            if customer_id is not None:
                targets = [customer_id]
            else:
                buyers = select_ids(
                    cur, "SELECT DISTINCT purchased_by FROM ticket_activity ORDER BY purchased_by"
                )
                want = 1 if count is None else count
                if len(buyers) < want:
                    raise SimulatorError(f"only {len(buyers)} customers have purchases")
                targets = self.rng.sample(buyers, want)
            for target in targets:
                self._rename(cur, target)
        return targets

    # --- a deterministic mix for tests -------------------------------------------------

    def bulk(
        self,
        *,
        inserts: int = 0,
        updates: int = 0,
        deletes: int = 0,
        customer_updates: int = 0,
        new_customer_share: float = 0.05,
        ops_per_commit: int = 10,
    ) -> BulkResult:
        """Interleave the four kinds of change in a seeded order, ``ops_per_commit`` a commit.

        Updates, deletes and customer updates only touch tickets sold at that moment (so a
        delete never hits a deleted row, and a cancelled ticket may be sold again later);
        one key may change several times, also inside one transaction.
        """
        counts = {"I": inserts, "U": updates, "D": deletes, "C": customer_updates}
        if min(counts.values()) < 0 or ops_per_commit < 1:
            raise ValueError("counts must be >= 0 and ops_per_commit >= 1")
        if not 0.0 <= new_customer_share <= 1.0:
            raise ValueError(f"new_customer_share must be in [0, 1], got {new_customer_share}")
        with transaction(self.conn) as cur:
            unsold, sold, customers = self._pools(cur)
        if inserts > len(unsold) + deletes:
            raise SimulatorError(f"{inserts} inserts asked, {len(unsold)} unsold tickets")
        if deletes > len(sold) + inserts:
            raise SimulatorError(f"{deletes} deletes asked, {len(sold)} sold tickets")
        book = Book(unsold, customers, sold)
        changes: list[tuple[str, int]] = []
        new_customers: list[int] = []
        remaining = dict(counts)
        total = sum(counts.values())
        for start in range(0, total, ops_per_commit):
            with transaction(self.conn) as cur:
                for _ in range(min(ops_per_commit, total - start)):
                    feasible = [
                        k
                        for k, n in remaining.items()
                        if n > 0 and (book.unsold if k == "I" else book.sold)
                    ]
                    if not feasible:
                        raise SimulatorError(f"bulk is stuck with {remaining} changes left")
                    kind = self.rng.choices(feasible, [remaining[k] for k in feasible])[0]
                    remaining[kind] -= 1
                    key = self._bulk_change(cur, kind, book, new_customer_share, new_customers)
                    changes.append((kind, key))
        return BulkResult(tuple(changes), tuple(new_customers))

    def _bulk_change(
        self, cur: Cursor, kind: str, book: Book, new_customer_share: float, new: list[int]
    ) -> int:
        """One change of ``bulk``; returns the ticket id (the customer id for ``C``)."""
        if kind == "I":
            bought = self._purchase(cur, book.unsold, book.customers, new_customer_share)
            assert bought is not None  # bulk checks that a ticket is unsold first
            ticket_id, customer, is_new = bought
            if is_new:
                new.append(customer)
            book.give(ticket_id, customer)
            return ticket_id
        if kind == "C":
            customer = book.buyers.choice(self.rng)
            self._rename(cur, customer)
            return customer
        ticket_id = book.sold.choice(self.rng)
        if kind == "D":
            cur.execute("DELETE FROM ticket_activity WHERE ticket_id = %s", (ticket_id,))
            book.take_back(ticket_id)
            return ticket_id
        other = book.customers.pick(self.rng, other_than=book.holder[ticket_id])
        if other is None:
            raise SimulatorError("updates need at least two customers")
        self._reassign(cur, ticket_id, other)
        book.give(ticket_id, other)
        return ticket_id


def _check_incremental(
    rate: float | None,
    duration: float | None,
    count: int | None,
    new_customer_share: float,
    batch_size: int,
) -> None:
    """The arguments of `Simulator.incremental`, or a ValueError naming the wrong one."""
    if (duration is None) == (count is None):
        raise ValueError("give exactly one of duration and count")
    if duration is not None and (rate is None or duration <= 0):
        raise ValueError("duration needs a rate, and both must be > 0")
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    if count is not None and count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if not 0.0 <= new_customer_share <= 1.0:
        raise ValueError(f"new_customer_share must be in [0, 1], got {new_customer_share}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

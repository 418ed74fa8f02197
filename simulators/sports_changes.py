"""The building blocks of the simulator's commands.

``Pool`` and ``Book`` keep ids in memory, in step with the database, so seeded picks are
O(1); ``ChangeWriter`` makes one row change (a purchase, a new customer, a reassignment, a
rename) on the caller's cursor, inside the caller's transaction.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable

import pymysql
from pymysql.cursors import Cursor

from simulators.sports_data import customer_values, seeded
from simulators.sports_db import INSERTS, SimulatorError, select_ids

__all__ = ["Book", "ChangeWriter", "Pool"]

_DUPLICATE_KEY = 1062  # ER_DUP_ENTRY


class Pool:
    """Ids with O(1) add, remove and seeded pick; the order depends only on the calls made."""

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._items: list[int] = []
        self._index: dict[int, int] = {}
        for i in ids:
            self.add(i)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: int) -> bool:
        return item in self._index

    def add(self, item: int) -> None:
        if item not in self._index:
            self._index[item] = len(self._items)
            self._items.append(item)

    def remove(self, item: int) -> None:
        i = self._index.pop(item)
        last = self._items.pop()
        if last != item:
            self._items[i] = last
            self._index[last] = i

    def choice(self, rng: random.Random) -> int:
        if not self._items:
            raise IndexError("pick from an empty pool")
        return self._items[rng.randrange(len(self._items))]

    def pick(self, rng: random.Random, *, other_than: int | None = None) -> int | None:
        candidates = len(self._items) - (other_than in self._index)
        if candidates <= 0:
            return None
        item = self._items[rng.randrange(len(self._items))]
        while item == other_than:  # at most a few draws: at least one other item exists
            item = self._items[rng.randrange(len(self._items))]
        return item


class Book:
    """Who holds which ticket, kept in step with the database during one ``bulk`` run."""

    def __init__(self, unsold: Pool, customers: Pool, holder: dict[int, int]) -> None:
        self.unsold = unsold
        self.customers = customers
        self.holder = dict(holder)
        self.sold = Pool(holder)
        self._tickets_of: Counter[int] = Counter(holder.values())
        self.buyers = Pool(sorted(self._tickets_of))

    def give(self, ticket_id: int, customer: int) -> None:
        """A purchase or a reassignment (the ticket left ``unsold`` already)."""
        if ticket_id in self.holder:
            self._drop(ticket_id)
        self.holder[ticket_id] = customer
        self.sold.add(ticket_id)
        self._tickets_of[customer] += 1
        if self._tickets_of[customer] == 1:
            self.buyers.add(customer)

    def take_back(self, ticket_id: int) -> None:
        """A cancelled purchase: the ticket can be sold again."""
        self._drop(ticket_id)
        self.sold.remove(ticket_id)
        self.unsold.add(ticket_id)

    def _drop(self, ticket_id: int) -> None:
        customer = self.holder.pop(ticket_id)
        self._tickets_of[customer] -= 1
        if self._tickets_of[customer] == 0:
            self.buyers.remove(customer)


class ChangeWriter:
    """Single row changes drawn from ``random.Random(seed)`` and a Faker stream of their own.

    The same calls on the same database state make the same changes; committing is the
    caller's business.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fake, self._value_rng = seeded(seed, "changes")

    def _new_customer(self, cur: Cursor) -> int:
        """Insert a customer with the next id; FOR UPDATE serialises concurrent simulators."""
        cur.execute("SELECT COALESCE(MAX(customer_id), 0) + 1 FROM customer FOR UPDATE")
        row = cur.fetchone()
        assert row is not None
        customer_id = int(row[0])
        cur.execute(INSERTS["customer"], (customer_id, *self._new_values(customer_id)))
        return customer_id

    def _new_values(self, customer_id: int) -> tuple[str, str, str]:
        return customer_values(self.fake, self._value_rng, customer_id)

    def _purchase(
        self, cur: Cursor, unsold: Pool, customers: Pool, new_customer_share: float
    ) -> tuple[int, int, bool] | None:
        """Sell one random unsold ticket: (ticket_id, customer_id, new customer?).

        A new customer is inserted first in the same transaction, so the purchase and the
        customer it references commit together, as in a real sign-up-and-buy.
        """
        if not unsold:
            return None
        new = self.rng.random() < new_customer_share
        if new:
            customer_id = self._new_customer(cur)
            customers.add(customer_id)
        else:
            picked = customers.pick(self.rng)
            if picked is None:
                raise SimulatorError("no customer to buy a ticket: run 'initial' first")
            customer_id = picked
        # Bounded by the pool: every try removes a ticket. A duplicate key means another
        # writer sold it meanwhile; InnoDB rolls back only that statement, so try another.
        while (ticket_id := unsold.pick(self.rng)) is not None:
            unsold.remove(ticket_id)
            try:
                cur.execute(
                    "INSERT INTO ticket_activity (ticket_id, purchased_by, created_at, updated_at)"
                    " VALUES (%s, %s, NOW(6), NOW(6))",
                    (ticket_id, customer_id),
                )
            except pymysql.err.IntegrityError as exc:
                if exc.args[0] != _DUPLICATE_KEY:
                    raise
                continue
            return ticket_id, customer_id, new
        return None

    def _reassign(self, cur: Cursor, ticket_id: int, customer_id: int) -> None:
        # GREATEST: updated_at strictly increases per ticket even within one microsecond or
        # if the clock steps back, so it stays a usable sequence column for the pipeline.
        cur.execute(
            "UPDATE ticket_activity SET purchased_by = %s,"
            " updated_at = GREATEST(NOW(6), updated_at + INTERVAL 1 MICROSECOND)"
            " WHERE ticket_id = %s",
            (customer_id, ticket_id),
        )

    def _rename(self, cur: Cursor, customer_id: int) -> None:
        """New name, email and phone, each different from the old one (bounded redraws)."""
        cur.execute(
            "SELECT name, email, phone FROM customer WHERE customer_id = %s FOR UPDATE",
            (customer_id,),
        )
        old = cur.fetchone()
        if old is None:
            raise SimulatorError(f"customer {customer_id} does not exist")
        for _ in range(10):
            new = self._new_values(customer_id)
            if all(a != b for a, b in zip(new, old, strict=True)):
                break
        else:
            raise SimulatorError(f"could not draw new values for customer {customer_id}")
        cur.execute(
            "UPDATE customer SET name = %s, email = %s, phone = %s WHERE customer_id = %s",
            (*new, customer_id),
        )

    def _pools(self, cur: Cursor) -> tuple[Pool, dict[int, int], Pool]:
        """(unsold tickets, sold ticket -> customer, customers), in key order."""
        unsold = Pool(
            select_ids(
                cur,
                "SELECT t.ticket_id FROM ticket t LEFT JOIN ticket_activity a"
                " ON a.ticket_id = t.ticket_id WHERE a.ticket_id IS NULL ORDER BY t.ticket_id",
            )
        )
        cur.execute("SELECT ticket_id, purchased_by FROM ticket_activity ORDER BY ticket_id")
        sold = {int(t): int(c) for t, c in cur.fetchall()}
        customers = Pool(select_ids(cur, "SELECT customer_id FROM customer ORDER BY customer_id"))
        return unsold, sold, customers

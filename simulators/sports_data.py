"""Seeded Faker values for the sports source tables; no database access.

One Faker and one Random per stream (``seeded``), so the rows of the initial load are a
function of (seed, id): a rerun draws the same rows and a bigger one only adds ids. Emails
use reserved example domains only.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from faker import Faker

__all__ = [
    "SPORT_TYPES",
    "customer_values",
    "initial_customers",
    "initial_events",
    "initial_tickets",
    "seeded",
]

SPORT_TYPES = ("Baseball", "Football", "Basketball", "Soccer", "Hockey")
# (seat_level, seat_location prefix, weight, prices an event may charge for it)
_SEAT_LEVELS: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    ("Standard", "S", 70, ("60.00", "75.50", "100.00", "149.90")),
    ("Premium", "P", 22, ("200.00", "249.99", "300.00", "450.00")),
    ("VIP", "V", 8, ("500.00", "750.00", "999.99")),
)
# Reserved example domains only: generated addresses can never reach a real mailbox.
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
_FIRST_EVENT_DAY = date(2021, 9, 1)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z]+", ".", text.lower()).strip(".") or "customer"


def customer_values(fake: Faker, rng: random.Random, customer_id: int) -> tuple[str, str, str]:
    """Name, email, phone. The email ends with the id after a digit-free local part, so it is
    unique by construction, also across later renames."""
    first, last = str(fake.first_name()), str(fake.last_name())
    email = f"{_slug(first)}.{_slug(last)}{customer_id}@{rng.choice(_EMAIL_DOMAINS)}"
    # Faker's en_US formats are the seed's: +1-296-605-8486, 087-237-9316x2670, (591)341-7776.
    return f"{first} {last}", email, str(fake.phone_number())


def seeded(seed: int, stream: str) -> tuple[Faker, random.Random]:
    """One Faker and one Random per stream, so a table's rows depend only on seed and id."""
    fake = Faker("en_US")
    fake.seed_instance(f"{seed}:{stream}")
    return fake, random.Random(f"{seed}:{stream}:rng")


def initial_events(seed: int, n: int) -> list[tuple[Any, ...]]:
    fake, rng = seeded(seed, "sport_event")
    return [
        (
            event_id,
            rng.choice(SPORT_TYPES),
            _FIRST_EVENT_DAY + timedelta(days=rng.randrange(365)),
            f"{fake.city()}, US",
        )
        for event_id in range(1, n + 1)
    ]


def initial_tickets(seed: int, events: int, per_event: int) -> list[tuple[Any, ...]]:
    """Ids ``(event_id - 1) * per_event + 1 ..``; each event prices each seat level once."""
    _, rng = seeded(seed, "ticket")
    weights = [w for _, _, w, _ in _SEAT_LEVELS]
    rows: list[tuple[Any, ...]] = []
    for event_id in range(1, events + 1):
        prices = [Decimal(rng.choice(p)) for _, _, _, p in _SEAT_LEVELS]
        seats: Counter[str] = Counter()
        for i in range(per_event):
            level = rng.choices(range(len(_SEAT_LEVELS)), weights)[0]
            name, prefix, _, _ = _SEAT_LEVELS[level]
            seats[prefix] += 1
            ticket_id = (event_id - 1) * per_event + i + 1
            rows.append((ticket_id, event_id, name, f"{prefix}-{seats[prefix]}", prices[level]))
    return rows


def initial_customers(seed: int, n: int) -> list[tuple[Any, ...]]:
    fake, rng = seeded(seed, "customer")
    return [(cid, *customer_values(fake, rng, cid)) for cid in range(1, n + 1)]

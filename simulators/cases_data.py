"""The `cases` table of the demo: its columns, places, dates and value formats."""

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from faker import Faker

COLUMNS: tuple[str, ...] = (
    "oid__id",
    "case_type",
    "cases",
    "difference",
    "date",
    "country_region",
    "province_state",
    "admin2",
    "combined_key",
    "lat",
    "long",
    "prep_flow_runtime",
    "fips",
)
KEY = "oid__id"
SCHEMA = "public"
TABLE = "cases"
OPS = ("I", "U", "D")
CASE_TYPES = ("Confirmed", "Deaths", "Recovered")
FIRST_DATE = date(2020, 1, 22)
LAST_DATE = date(2020, 12, 31)
# The full load only holds dates up to here, so December dates are new to the lake.
LOAD_LAST_DATE = date(2020, 11, 30)
LOAD_TIME = datetime(2020, 12, 1, 6, 0, 0)
CDC_START = LOAD_TIME + timedelta(hours=1)
CDC_END = datetime(2020, 12, 31, 20, 0, 0)
MIN_INITIAL_ROWS = 20
RECENT_WINDOW = 300

Row = dict[str, str | None]

# (country_region, province_state, lat, long, scale): unicode and comma-bearing names on purpose.
_WORLD: tuple[tuple[str, str, float, float, int], ...] = (
    ("Sudan", "N/A", 12.8628, 30.2176, 25_000),
    ("Côte d'Ivoire", "N/A", 7.5400, -5.5471, 22_000),
    ("Korea, South", "N/A", 35.9078, 127.7669, 60_000),
    ("São Tomé and Príncipe", "N/A", 0.1864, 6.6131, 1_000),
    ("Netherlands", "Curaçao", 12.1696, -68.9900, 4_000),
    ("Netherlands", "Bonaire, Sint Eustatius and Saba", 12.1784, -68.2385, 200),
    ("France", "Réunion", -21.1151, 55.5364, 9_000),
    ("Germany", "N/A", 51.1657, 10.4515, 1_700_000),
    ("Italy", "N/A", 41.8719, 12.5674, 2_100_000),
    ("Brazil", "São Paulo", -23.5505, -46.6333, 1_400_000),
    ("India", "N/A", 20.5937, 78.9629, 10_000_000),
    ("Japan", "N/A", 36.2048, 138.2529, 230_000),
    ("Taiwan*", "N/A", 23.7000, 121.0000, 800),
    ("Congo (Kinshasa)", "N/A", -4.0383, 21.7587, 17_000),
    ("China", "Hubei", 30.9756, 112.2707, 68_000),
    ("Canada", "Québec", 52.9399, -73.5491, 190_000),
    ("Mexico", "N/A", 23.6345, -102.5528, 1_400_000),
    ("Iceland", "N/A", 64.9631, -19.0208, 6_000),
)


@dataclass(frozen=True)
class _Location:
    country: str
    province: str
    admin2: str | None
    lat: float | None
    long: float | None
    fips: int | None
    scale: int

    @property
    def combined_key(self) -> str:
        parts = [self.country, self.province]
        if self.admin2:
            parts.append(self.admin2)
        return ", ".join(parts)


@dataclass(frozen=True)
class _Step:
    """One scripted change; flags select the awkward variant the consumer must handle."""

    op: str
    tie: bool = False
    new_date: bool = False
    move: bool = False
    remember: bool = False


@dataclass
class _Script:
    """Changes of one key inside one file, in order; ``pick`` says how the key is chosen."""

    pick: str  # "new" | "recent" | "old" | "pending"
    steps: list[_Step]
    key: str | None = None


@dataclass(frozen=True)
class Generated:
    """What the source table ends up as, so tests can compare the lake against it."""

    table_dir: Path
    final_rows: dict[str, Row]
    ops: dict[str, int]
    bad_records: int
    files: list[Path]
    written: list[Path] = field(default_factory=list, compare=False)


def _epoch(t: datetime) -> int:
    return int(t.replace(tzinfo=UTC).timestamp())


def _from_epoch(sec: int) -> datetime:
    return datetime.fromtimestamp(sec, UTC).replace(tzinfo=None)


def fmt_date(d: date) -> str:
    """``M/d/yyyy`` without zero padding, as the source stores it."""
    return f"{d.month}/{d.day}/{d.year}"


def parse_date(text: str) -> date:
    month, day, year = (int(p) for p in text.split("/"))
    return date(year, month, day)


def fmt_runtime(t: datetime) -> str:
    """``M/d/yyyy h:mm:ss AM|PM``: the business timestamp, second precision."""
    hour = t.hour % 12 or 12
    half = "AM" if t.hour < 12 else "PM"
    return f"{t.month}/{t.day}/{t.year} {hour}:{t.minute:02d}:{t.second:02d} {half}"


def _fmt_float(v: float | None) -> str | None:
    return None if v is None else f"{v:.4f}"


def _values(row: Row) -> list[str]:
    return ["" if row[c] is None else str(row[c]) for c in COLUMNS]


def _locations(fake: Faker, rng: random.Random) -> list[_Location]:
    """A fixed pool: world rows without admin2/fips, US counties with them, some null lat/long."""
    pool = [_Location(c, p, None, lat, lng, None, s) for c, p, lat, lng, s in _WORLD]
    for _ in range(24):
        pool.append(
            _Location(
                "US",
                str(fake.state()),
                str(fake.city()),
                rng.uniform(25.0, 49.0),
                rng.uniform(-124.0, -67.0),
                rng.randint(1, 56) * 1000 + rng.randrange(1, 200, 2),
                rng.randint(2_000, 300_000),
            )
        )
    for _ in range(2):
        pool.append(_Location("US", str(fake.state()), "Unassigned", None, None, None, 500))
    return pool

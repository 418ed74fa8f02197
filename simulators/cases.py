"""Deterministic AWS DMS S3-target CSV files for a COVID ``cases`` table.

Why: the CDC job has to be exercised against files shaped exactly like what DMS writes
(full-load files without an Op column, time-named CDC files with I/U/D lines, deletes that
carry only the key) and against the awkward cases (same-second ties, partition moves,
delete then re-insert, malformed lines), with a known expected end state and no AWS account.
"""

import argparse
import csv
import io
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
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


def _plan(n_files: int) -> list[list[_Script]]:
    """Put every required scenario into the first files, so even one file covers them all."""
    plan: list[list[_Script]] = [[] for _ in range(n_files)]
    if n_files == 0:
        return plan
    last = n_files - 1
    a, b, c = 0, min(1, last), min(2, last)
    delete = _Script("old", [_Step("D", remember=True)])
    plan[a] += [
        _Script("new", [_Step("I"), _Step("U"), _Step("U", tie=True)]),
        _Script("recent", [_Step("U", new_date=True)]),
        delete,
    ]
    plan[b] += [
        _Script("recent", [_Step("U"), _Step("D")]),
        _Script("new", [_Step("I"), _Step("U", tie=True)]),
        _Script("old", [_Step("U", move=True)]),
    ]
    if c == a:
        delete.steps.append(_Step("I"))
    else:
        plan[c].append(_Script("pending", [_Step("I")]))
    plan[c] += [
        _Script("recent", [_Step("D"), _Step("I")]),
        _Script("old", [_Step("U")]),
    ]
    return plan


class _Sim:
    """The source table plus the clocks that keep keys and business times consistent."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        fake = Faker("en_US")
        fake.seed_instance(seed)
        self.locations = _locations(fake, self.rng)
        self.rows: dict[str, Row] = {}
        self.order: list[str] = []  # every key ever created, in creation order
        self.last_ts: dict[str, datetime] = {}
        self.seen_dates: set[date] = set()
        self.ops = {"load": 0, "I": 0, "U": 0, "D": 0}
        self.pending: str | None = None
        self._machine = self.rng.getrandbits(40)
        self._counter = self.rng.getrandbits(24)
        self._last_oid_sec = 0

    def _oid(self, sec: int) -> str:
        self._counter = (self._counter + 1) % (1 << 24)
        self._last_oid_sec = max(self._last_oid_sec, sec)
        return f"{sec:08x}{self._machine:010x}{self._counter:06x}"

    def _new_row(self, key: str, d: date, ts: datetime) -> Row:
        rng = self.rng
        loc = rng.choice(self.locations)
        case_type = rng.choice(CASE_TYPES)
        factor = {"Confirmed": 1.0, "Deaths": 0.03, "Recovered": 0.6}[case_type]
        progress = (d - FIRST_DATE).days / (LAST_DATE - FIRST_DATE).days
        cases = int(loc.scale * progress**2 * factor) + rng.randint(0, 9)
        if rng.random() < 0.06:
            difference = -rng.randint(1, 25)
        else:
            difference = rng.randint(0, max(1, cases // 40))
        return {
            KEY: key,
            "case_type": case_type,
            "cases": str(cases),
            "difference": str(difference),
            "date": fmt_date(d),
            "country_region": loc.country,
            "province_state": loc.province,
            "admin2": loc.admin2,
            "combined_key": loc.combined_key,
            "lat": _fmt_float(loc.lat),
            "long": _fmt_float(loc.long),
            "prep_flow_runtime": fmt_runtime(ts),
            "fips": None if loc.fips is None else str(loc.fips),
        }

    def _store(self, row: Row, ts: datetime) -> None:
        key = str(row[KEY])
        self.rows[key] = row
        self.last_ts[key] = ts
        self.seen_dates.add(parse_date(str(row["date"])))

    def load(self, n: int) -> list[Row]:
        """Rows created the day after their report date, some updated before the load."""
        rng = self.rng
        span = (LOAD_LAST_DATE - FIRST_DATE).days
        items: list[tuple[datetime, date, datetime]] = []
        for _ in range(n):
            d = FIRST_DATE + timedelta(days=rng.randint(0, span))
            created = datetime.combine(d + timedelta(days=1), time()) + timedelta(
                seconds=rng.randint(0, 5 * 3600)
            )
            ts = created
            if rng.random() < 0.2:
                ts = min(
                    created + timedelta(seconds=rng.randint(3600, 10 * 86400)),
                    LOAD_TIME - timedelta(minutes=1),
                )
            items.append((created, d, ts))
        items.sort(key=lambda item: item[0])
        rows: list[Row] = []
        for created, d, ts in items:
            key = self._oid(_epoch(created))
            self.order.append(key)
            row = self._new_row(key, d, ts)
            self._store(row, ts)
            rows.append(row)
        self.ops["load"] = len(rows)
        return rows

    def pick_live(self, kind: str, reserved: set[str]) -> str | None:
        """A live key: recent ones (the tail of creation order) are the usual update target."""
        n = len(self.order)
        for _ in range(64):
            if kind == "recent":
                i = n - 1 - self.rng.randrange(min(n, RECENT_WINDOW))
            elif kind == "old":
                i = self.rng.randrange(max(1, n // 2))
            else:
                i = self.rng.randrange(n)
            key = self.order[i]
            if key in self.rows and key not in reserved:
                return key
        return next((k for k in reversed(self.order) if k in self.rows and k not in reserved), None)

    def _unseen_date(self) -> date:
        days = (LAST_DATE - FIRST_DATE).days + 1
        fresh = [
            d
            for d in (FIRST_DATE + timedelta(days=i) for i in range(days))
            if d not in self.seen_dates
        ]
        if fresh:
            return self.rng.choice(fresh)
        return max(self.seen_dates) + timedelta(days=1)

    def _moved_date(self, old: date) -> date:
        for _ in range(20):
            d = old + timedelta(days=self.rng.choice((-1, 1)) * self.rng.randint(1, 45))
            if FIRST_DATE <= d <= LAST_DATE:
                return d
        return FIRST_DATE if old != FIRST_DATE else FIRST_DATE + timedelta(days=1)

    def insert(self, key: str | None, clock: datetime) -> tuple[list[str], str, datetime]:
        """A new key (ObjectId later than every existing one) or a re-insert of a deleted key."""
        if key is None:
            sec = max(_epoch(clock), self._last_oid_sec + 1)
            ts = _from_epoch(sec)
            key = self._oid(sec)
            self.order.append(key)
        else:
            ts = max(clock, self.last_ts[key] + timedelta(seconds=1))
        d = min(max(ts.date() - timedelta(days=1), FIRST_DATE), LAST_DATE)
        row = self._new_row(key, d, ts)
        self._store(row, ts)
        self.ops["I"] += 1
        return ["I", *_values(row)], key, ts

    def update(
        self,
        key: str,
        clock: datetime,
        *,
        tie: bool = False,
        new_date: bool = False,
        move: bool = False,
    ) -> tuple[list[str], datetime]:
        """Full new image; business time jitters across keys but never goes back for one key."""
        old = self.rows[key]
        prev = self.last_ts[key]
        ts = prev if tie else max(clock - timedelta(seconds=self.rng.randint(0, 15)), prev)
        row = dict(old)
        cases = int(old["cases"] or 0)
        if cases > 0 and self.rng.random() < 0.1:
            delta = -self.rng.randint(1, min(cases, 25))
        else:
            delta = self.rng.randint(1, max(1, cases // 20))
        row["cases"] = str(cases + delta)
        row["difference"] = str(delta)
        if new_date:
            row["date"] = fmt_date(self._unseen_date())
        elif move:
            row["date"] = fmt_date(self._moved_date(parse_date(str(old["date"]))))
        row["prep_flow_runtime"] = fmt_runtime(ts)
        self._store(row, ts)
        self.ops["U"] += 1
        return ["U", *_values(row)], ts

    def delete(self, key: str, clock: datetime) -> tuple[list[str], datetime]:
        ts = max(clock, self.last_ts[key])
        del self.rows[key]
        self.last_ts[key] = ts
        self.ops["D"] += 1
        return ["D", key, *([""] * (len(COLUMNS) - 1))], ts

    def _random_change(self, clock: datetime, reserved: set[str]) -> tuple[list[str], datetime]:
        """About 10% deletes, 60% updates (mostly of recent rows), 30% inserts."""
        r = self.rng.random()
        if r < 0.1:
            key = self.pick_live("any", reserved)
            if key is not None:
                return self.delete(key, clock)
        elif r < 0.7:
            key = self.pick_live("recent" if self.rng.random() < 0.85 else "old", reserved)
            if key is not None:
                return self.update(key, clock, move=self.rng.random() < 0.04)
        line, _, ts = self.insert(None, clock)
        return line, ts

    def _scripted(
        self, script: _Script, step: _Step, clock: datetime
    ) -> tuple[list[str], datetime]:
        if step.op == "I":
            line, script.key, ts = self.insert(script.key, clock)
            return line, ts
        assert script.key is not None
        if step.op == "U":
            return self.update(
                script.key, clock, tie=step.tie, new_date=step.new_date, move=step.move
            )
        if step.remember:
            self.pending = script.key
        return self.delete(script.key, clock)

    def cdc_file(
        self, scripts: list[_Script], changes: int, start: datetime
    ) -> tuple[list[list[str]], datetime]:
        """Scripted steps are scattered among random changes; their keys are off limits."""
        reserved: set[str] = set()
        for script in scripts:
            if script.pick == "pending":
                script.key = self.pending
            elif script.pick != "new":
                script.key = self.pick_live(script.pick, reserved)
                if script.key is None:
                    raise RuntimeError("no live row left to script a change on")
            if script.key is not None:
                reserved.add(script.key)
        labels = [i for i, s in enumerate(scripts) for _ in s.steps]
        labels += [-1] * max(0, changes - len(labels))
        self.rng.shuffle(labels)
        cursor = [0] * len(scripts)
        clock = latest = start
        lines: list[list[str]] = []
        for label in labels:
            clock += timedelta(seconds=self.rng.randint(0, 3))
            if label < 0:
                line, ts = self._random_change(clock, reserved)
            else:
                script = scripts[label]
                line, ts = self._scripted(script, script.steps[cursor[label]], clock)
                cursor[label] += 1
                reserved.add(str(script.key))
            latest = max(latest, ts, clock)
            lines.append(line)
        return lines, latest

    def bad_lines(self, count: int, ts: datetime) -> list[list[str]]:
        """Tempting rejects: live keys, the latest business time, plausible values."""
        kinds = ("columns", "op", "cases", "extra")
        out: list[list[str]] = []
        for i in range(count):
            key = self.pick_live("any", set())
            assert key is not None
            row = dict(self.rows[key])
            row["cases"] = str(int(row["cases"] or 0) + 1000)
            row["prep_flow_runtime"] = fmt_runtime(ts)
            line = ["U", *_values(row)]
            kind = kinds[i % len(kinds)]
            if kind == "columns":
                line = line[:5]
            elif kind == "op":
                line[0] = "X"
            elif kind == "cases":
                line[1 + COLUMNS.index("cases")] = "abc"
            else:
                line.append("extra")
            out.append(line)
        return out


def _write(path: Path, lines: list[list[str]]) -> bool:
    """Write via a hidden temp file and rename, so a watching reader never sees half a file."""
    if path.exists():
        return False
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\n").writerows(lines)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8", newline="")
    os.replace(tmp, path)
    return True


def _cdc_name(t: datetime) -> str:
    return f"{t:%Y%m%d-%H%M%S}{t.microsecond // 1000:03d}.csv"


def generate(
    landing: Path,
    *,
    seed: int = 42,
    initial_rows: int = 2000,
    cdc_files: int = 6,
    changes_per_file: int = 300,
    bad_records: int = 2,
    load_rows_per_file: int = 1000,
) -> Generated:
    """Write the full load and CDC files under ``landing/public/cases``; keep existing files.

    Everything is derived from ``seed``, so re-running recomputes the same result and writes
    nothing new. Files with scripted scenarios may hold more than ``changes_per_file`` lines.
    """
    if initial_rows < MIN_INITIAL_ROWS:
        raise ValueError(f"initial_rows must be >= {MIN_INITIAL_ROWS}")
    if min(cdc_files, changes_per_file, bad_records) < 0 or load_rows_per_file < 1:
        raise ValueError("counts must be >= 0 and load_rows_per_file >= 1")
    table_dir = Path(landing) / SCHEMA / TABLE
    sim = _Sim(seed)
    rows = sim.load(initial_rows)
    outputs: list[tuple[str, list[list[str]]]] = []
    for n, i in enumerate(range(0, len(rows), load_rows_per_file), start=1):
        outputs.append((f"LOAD{n:08d}.csv", [_values(r) for r in rows[i : i + load_rows_per_file]]))
    gap = (CDC_END - CDC_START) / max(cdc_files, 1)
    start = CDC_START
    bad_written = 0
    for i, scripts in enumerate(_plan(cdc_files)):
        lines, latest = sim.cdc_file(scripts, changes_per_file, start)
        if i == cdc_files - 1 and bad_records:
            mid = len(lines) // 2
            lines[mid:mid] = sim.bad_lines(bad_records, latest)
            bad_written = bad_records
        file_time = latest + timedelta(
            seconds=sim.rng.randint(1, 20), milliseconds=sim.rng.randint(0, 999)
        )
        outputs.append((_cdc_name(file_time), lines))
        start = max(CDC_START + gap * (i + 1), file_time + timedelta(seconds=60))
    table_dir.mkdir(parents=True, exist_ok=True)
    files = [table_dir / name for name, _ in outputs]
    written = [path for path, (_, lines) in zip(files, outputs, strict=True) if _write(path, lines)]
    return Generated(
        table_dir=table_dir,
        final_rows={k: dict(v) for k, v in sim.rows.items()},
        ops=dict(sim.ops),
        bad_records=bad_written,
        files=files,
        written=written,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: write the files and print one line of counts (never row values)."""
    parser = argparse.ArgumentParser(
        prog="python -m simulators.cases", description="Write DMS-like CSV files for cases."
    )
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--initial-rows", type=int, default=2000)
    parser.add_argument("--cdc-files", type=int, default=6)
    parser.add_argument("--changes-per-file", type=int, default=300)
    parser.add_argument("--bad-records", type=int, default=2)
    args = parser.parse_args(argv)
    result = generate(
        args.landing,
        seed=args.seed,
        initial_rows=args.initial_rows,
        cdc_files=args.cdc_files,
        changes_per_file=args.changes_per_file,
        bad_records=args.bad_records,
    )
    ops = result.ops
    print(
        f"cases: {len(result.written)} new of {len(result.files)} files in {result.table_dir}"
        f" load={ops['load']} I={ops['I']} U={ops['U']} D={ops['D']}"
        f" bad={result.bad_records} final_rows={len(result.final_rows)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

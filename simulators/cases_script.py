"""The changes of the demo's `cases` table: scripted scenarios between random ones."""

import random
from datetime import date, datetime, time, timedelta

from faker import Faker

from simulators.cases_data import (
    CASE_TYPES,
    COLUMNS,
    FIRST_DATE,
    KEY,
    LAST_DATE,
    LOAD_LAST_DATE,
    LOAD_TIME,
    RECENT_WINDOW,
    Row,
    _epoch,
    _fmt_float,
    _from_epoch,
    _locations,
    _Script,
    _Step,
    _values,
    fmt_date,
    fmt_runtime,
    parse_date,
)


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

"""A deterministic stream of DMS CSV change files and the tables it must produce.

Keys 1..N; a full load, then CDC files of inserts, updates (some moving day),
deletes (with their full row, as DMS writes them with full supplemental logging)
and late changes older than what came before (which must lose). The expected tables
are computed here in plain Python from the changes written:
* the latest state (`expected`): per key the change with the greatest
  (ts, file, line) wins, and a winning delete means no row;
* the SCD type 2 history (`history`, docs/engines.md), for a table whose commit time is
  `ts`: a key's changes in (ts, file, line) order, every insert or update a version
  valid from its `ts` to the next change's `ts` (NULL for the last), current when it is
  the key's last change; a delete adds no version.
Every change has a name of its own (`name-<key>` in the full load,
`name-<key>-<file>-<line>` after), so a version names the change it came from.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

Row = tuple[int, str, int, str]  # id, name, day, ts
# id, name, day, ts, valid_from, valid_to, is_current
Version = tuple[int, str, int, str, str, str | None, bool]
_EPOCH = datetime(2024, 1, 1)


@dataclass(frozen=True)
class Change:
    op: str  # L (full load), I, U, D
    row: Row
    order: tuple[str, int, int]  # (ts, file index, line)


def generate(
    landing: Path, *, seed: int = 3, keys: int = 400, files: int = 6, per_file: int = 150
) -> list[Change]:
    """Write LOAD00000001.csv and `files` CDC files; return the changes written, in order."""
    rng = random.Random(seed)
    landing.mkdir(parents=True, exist_ok=True)
    clock = 0
    live: dict[int, Row] = {}
    changes: list[Change] = []

    def stamp(late: bool = False) -> str:
        nonlocal clock
        clock += 1
        moment = clock - rng.randint(50, 200) if late else clock
        return (_EPOCH + timedelta(seconds=max(moment, 0))).strftime("%Y-%m-%d %H:%M:%S")

    load = []
    for key in range(1, keys // 2 + 1):
        row = (key, f"name-{key}", rng.randint(1, 20), stamp())
        live[key] = row
        load.append(row)
        changes.append(Change("L", row, (row[3], 0, len(load))))
    _write(landing / "LOAD00000001.csv", [_csv(r) for r in load])

    for index in range(1, files + 1):
        lines = []
        for line in range(1, per_file + 1):
            roll = rng.random()
            key = rng.randint(1, keys)
            if key not in live or roll < 0.2:
                op = "I"
            elif roll < 0.35:
                op = "D"
            else:
                op = "U"
            late = op == "U" and rng.random() < 0.1
            day = (
                rng.randint(1, 20)
                if rng.random() < 0.3 or op == "I"
                else live.get(key, (0, "", 1, ""))[2]
            )
            row = (key, f"name-{key}-{index}-{line}", day, stamp(late))
            if op == "D":
                live.pop(key, None)
            else:
                live[key] = row
            lines.append(f"{op},{_csv(row)}")
            changes.append(Change(op, row, (row[3], index, line)))
        _write(landing / f"20240101-{index:06d}000.csv", lines)
    return changes


def expected(changes: list[Change]) -> set[Row]:
    """The latest state: the rows a type 1 table must hold."""
    winner: dict[int, Change] = {}
    for change in changes:
        held = winner.get(change.row[0])
        if held is None or change.order > held.order:
            winner[change.row[0]] = change
    return {c.row for c in winner.values() if c.op != "D"}


def history(changes: list[Change]) -> list[Version]:
    """The versions an SCD type 2 table must hold, with `ts` as the commit time."""
    by_key: dict[int, list[Change]] = defaultdict(list)
    for change in changes:
        by_key[change.row[0]].append(change)
    versions: list[Version] = []
    for of_key in by_key.values():
        ordered = sorted(of_key, key=lambda c: c.order)
        for change, after in zip(ordered, [*ordered[1:], None], strict=True):
            if change.op != "D":
                ends = after.row[3] if after else None
                versions.append((*change.row, change.row[3], ends, after is None))
    return versions


def _csv(row: Row) -> str:
    return ",".join(str(v) for v in row)


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

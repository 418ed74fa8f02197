"""A deterministic stream of DMS CSV change files and the table it must produce.

Keys 1..N; a full load, then CDC files of inserts, updates (some moving day),
deletes (with their full row, as DMS writes them with full supplemental logging)
and late changes older than what came before (which must lose). The expected table
is computed here in plain Python: per key the change with the greatest
(ts, file, line) wins, and a winning delete means no row.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

Row = tuple[int, str, int, str]  # id, name, day, ts
_EPOCH = datetime(2024, 1, 1)


@dataclass(frozen=True)
class Change:
    op: str  # L (full load), I, U, D
    row: Row
    order: tuple[str, int, int]  # (ts, file index, line)


def generate(
    landing: Path, *, seed: int = 3, keys: int = 400, files: int = 6, per_file: int = 150
) -> set[Row]:
    """Write LOAD00000001.csv and `files` CDC files; return the expected final rows."""
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
    return expected(changes)


def expected(changes: list[Change]) -> set[Row]:
    winner: dict[int, Change] = {}
    for change in changes:
        held = winner.get(change.row[0])
        if held is None or change.order > held.order:
            winner[change.row[0]] = change
    return {c.row for c in winner.values() if c.op != "D"}


def _csv(row: Row) -> str:
    return ",".join(str(v) for v in row)


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

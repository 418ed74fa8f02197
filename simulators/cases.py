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
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from simulators.cases_data import (
    CDC_END,
    CDC_START,
    COLUMNS,
    MIN_INITIAL_ROWS,
    SCHEMA,
    TABLE,
    Generated,
    _values,
)
from simulators.cases_script import _plan, _Sim

__all__ = ["COLUMNS", "Generated", "generate", "main"]


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
    # The files source reads the oldest files first, by modification time (milliseconds):
    # files written in one millisecond were read in any order, and the demo's batches and
    # counts changed from run to run. Each new file is a second older than the next.
    now = time.time()
    for age, path in enumerate(reversed(written), start=1):
        os.utime(path, (now - age, now - age))
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

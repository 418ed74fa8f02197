"""The run report: PNG charts of the benchmark results and of a run's batches.

    python -m bench.report [--results bench/results] [--run-log FILE] [--out docs/charts]
                           [--window 10]

From each result file found in `--results` (what the benchmarks write):

  engines.json       engines-throughput.png  changes/s per engine and table size
  lake_scaling.json  lake-scaling.png        one batch: lake engine vs its baselines
  tables.json        tables-cost.png         the same data over more tables
  e2e_latency.json   e2e-latency.png         commit -> visible p50/p95/p99 per rate

From `--run-log`, a file holding the job's log (one JSON line per table and batch):

  run-latency.png    rolling p50/p95/max of batch duration and commit -> visible latency
  run-phases.png     each batch's time by phase (decide, rewrite, publish, merge, ...)

A result file that is missing is skipped; one that is empty or not what its benchmark
writes is an error, as is a run log without batch lines, or nothing to draw at all.
Exit codes: 0 charts written, 2 an input the report cannot use.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import charts
from bench.report_data import (
    ReportError,
    engine_sizes,
    lake_sizes,
    load_json,
    rate_latencies,
    read_run_log,
    rolling,
    tables_runs,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
OUT = REPO / "docs" / "charts"

# result file -> (chart file, parse, draw)
_BENCHMARKS: dict[str, tuple[str, Callable[[Any, str], Any], Callable[[Any, Path], Path]]] = {
    "engines.json": ("engines-throughput.png", engine_sizes, charts.engines_throughput),
    "lake_scaling.json": ("lake-scaling.png", lake_sizes, charts.lake_scaling),
    "tables.json": ("tables-cost.png", tables_runs, charts.tables_cost),
    "e2e_latency.json": ("e2e-latency.png", rate_latencies, charts.e2e_latency),
}


def render(results: Path, run_log: Path | None, out: Path, *, window: int = 10) -> list[Path]:
    """Every chart the inputs allow, written under `out`; a ReportError if none."""
    written = []
    for name, (chart, parse, draw) in _BENCHMARKS.items():
        path = results / name
        if path.exists():
            written.append(draw(parse(load_json(path), str(path)), out / chart))
    if run_log is not None:
        points = read_run_log(run_log)
        written.append(charts.run_latency(rolling(points, window), window, out / "run-latency.png"))
        written.append(charts.run_phases(points, out / "run-phases.png"))
    if not written:
        raise ReportError(
            f"nothing to draw: no result file ({', '.join(_BENCHMARKS)}) in {results} and "
            "no --run-log; run a benchmark (make bench) or pass a job's log"
        )
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="folder of the benchmarks' result files (default: bench/results)",
    )
    parser.add_argument(
        "--run-log", type=Path, help="a file holding a job's log, whose batch lines to draw"
    )
    parser.add_argument(
        "--out", type=Path, default=OUT, help="folder for the PNG files (default: docs/charts)"
    )
    parser.add_argument("--window", type=int, default=10,
                        help="batch lines per rolling percentile (default: 10)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.window < 1:
        parser.error("--window must be at least 1")
    try:
        written = render(args.results, args.run_log, args.out, window=args.window)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

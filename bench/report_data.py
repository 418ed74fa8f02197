"""What the run report draws, read from the benchmarks' result files and a job's log.

Pure functions: text and parsed JSON in, plain records out; bench/charts.py draws them.

Benchmark results are the JSON files the benchmarks write under `bench/results/`
(engines.json, lake_scaling.json, tables.json, e2e_latency.json). A run's batches are
the job's per-batch log lines (runtime/listener.py): one JSON object per table and
batch, `{"event": "batch", ...}` after the log prefix (`2026-12-02 02:19:09,123 INFO
stream_cdc `); every other line (Spark's, the summary) is ignored.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

_BATCH_MARK = '{"event": "batch"'
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)(?:[,.](\d{1,6}))?")
_T = TypeVar("_T")
TOTAL = "total_s"  # an engine's own total: the sum of its phases, not a phase


class ReportError(Exception):
    """An input the report cannot use; the message says which and why."""


@dataclass(frozen=True)
class EngineSize:
    """One engine at one table size (bench.engines)."""

    engine: str
    rows: int
    changes_per_s: float
    median_batch_s: float
    worst_batch_s: float


@dataclass(frozen=True)
class LakeSize:
    """Seconds for one batch at one table size, the engine and its baselines
    (bench.lake_scaling)."""

    rows: int
    seconds: dict[str, float]  # engine, dynamic, rewrite-all


@dataclass(frozen=True)
class TablesRun:
    """One run of bench.tables: the same data over `tables` tables."""

    tables: int
    target: str
    shape: str  # "source" (one query), "plain" or "one-program" (floors), "per-table" (old)
    wall_s: float


@dataclass(frozen=True)
class RateLatency:
    """Source commit -> visible at one rate (bench.e2e_latency)."""

    rate: int
    p50: float | None
    p95: float | None
    p99: float | None
    sustained: bool
    pipeline: str = "job ticket_activity"  # the table watched (the floor's, or the job's)


@dataclass(frozen=True)
class BatchPoint:
    """One table's part of one micro-batch, from its log line."""

    at: datetime | None  # the log line's time, when it has the job's prefix
    query: str
    table: str
    batch_id: int
    duration_s: float
    changes: int  # upserts + deletes + stale
    max_latency_s: float | None  # oldest change of the batch: commit -> visible
    timings: dict[str, float] = field(default_factory=dict)

    def phases(self) -> dict[str, float]:
        """The engine's phases and `other` (the rest of the batch's time: decoding,
        quarantine, routing), which add up to the batch's duration."""
        out = {k.removesuffix("_s"): v for k, v in self.timings.items() if k != TOTAL}
        out["other"] = max(0.0, self.duration_s - sum(out.values()))
        return out


@dataclass(frozen=True)
class Window:
    """Percentiles of the batches up to one batch (a rolling window over the run)."""

    at: datetime | None
    index: int  # of the last batch line in the window, from 0
    duration: tuple[float, float, float]  # p50, p95, max
    latency: tuple[float, float, float] | None  # p50, p95, max; None when unknown
    batch_duration: float  # of the last batch line itself
    batch_latency: float | None


def load_json(path: Path) -> Any:
    """A result file, or a ReportError that names it."""
    if not path.is_file():
        raise ReportError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise ReportError(f"{path}: empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from None


def engine_sizes(report: Any, source: str = "engines.json") -> list[EngineSize]:
    """bench.engines' report: `results` maps an engine to its measured sizes."""
    results = _field(report, "results", dict, source)
    out = [
        EngineSize(
            engine=str(engine),
            rows=int(m["rows"]),
            changes_per_s=float(m["changes_per_s"]),
            median_batch_s=float(m["median_batch_s"]),
            worst_batch_s=float(m["worst_batch_s"]),
        )
        for engine, sizes in results.items()
        for m in _records(sizes, source, ("rows", "changes_per_s", "median_batch_s"))
    ]
    return _non_empty(out, source)


def lake_sizes(report: Any, source: str = "lake_scaling.json") -> list[LakeSize]:
    """bench.lake_scaling's report: `sizes` holds `<name>_s` per table size."""
    sizes = _records(_field(report, "sizes", list, source), source, ("rows", "engine_s"))
    out = [
        LakeSize(
            rows=int(s["rows"]),
            seconds={
                k.removesuffix("_s"): float(v)
                for k, v in s.items()
                if k.endswith("_s") and k != "build_s"
            },
        )
        for s in sizes
    ]
    return _non_empty(out, source)


def tables_runs(report: Any, source: str = "tables.json") -> list[TablesRun]:
    """bench.tables' report: a list of runs."""
    if not isinstance(report, list):
        raise ReportError(f"{source}: expected a list of runs")
    runs = _records(report, source, ("tables", "target", "shape", "wall_s"))
    out = [
        TablesRun(int(r["tables"]), str(r["target"]), str(r["shape"]), float(r["wall_s"]))
        for r in runs
    ]
    return _non_empty(out, source)


def rate_latencies(report: Any, source: str = "e2e_latency.json") -> list[RateLatency]:
    """bench.e2e_latency's report: `results` is a list of rates."""
    rates = _records(_field(report, "results", list, source), source, ("rate", "p50"))
    out = [
        RateLatency(
            rate=int(r["rate"]),
            p50=_number(r.get("p50")),
            p95=_number(r.get("p95")),
            p99=_number(r.get("p99")),
            sustained=bool(r.get("sustained", False)),
            pipeline=str(r.get("pipeline", "job ticket_activity")),
        )
        for r in rates
    ]
    return _non_empty(out, source)


def batch_point(line: str) -> BatchPoint | None:
    """The batch of one log line, or None for any other line (and a cut or foreign one)."""
    start = line.find(_BATCH_MARK)
    if start < 0:
        return None
    try:
        fields = json.loads(line[start:])
        return BatchPoint(
            at=_stamp(line[:start]),
            query=str(fields.get("query", "")),
            table=str(fields["table"]),
            batch_id=int(fields["batch_id"]),
            duration_s=float(fields["duration_s"]),
            changes=sum(int(fields.get(k) or 0) for k in ("upserts", "deletes", "stale")),
            max_latency_s=_number(fields.get("max_latency_s")),
            timings={str(k): float(v) for k, v in (fields.get("timings") or {}).items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def batch_points(lines: Iterable[str]) -> list[BatchPoint]:
    """Every batch line of a log, in the order written."""
    return [p for p in map(batch_point, lines) if p is not None]


def read_run_log(path: Path) -> list[BatchPoint]:
    """A job's log file's batches, or a ReportError saying why there are none."""
    if not path.is_file():
        raise ReportError(f"{path}: no such file")
    with path.open(encoding="utf-8", errors="replace") as lines:
        points = batch_points(lines)
    if not points:
        raise ReportError(
            f"{path}: no batch line ({_BATCH_MARK}...}}); pass a file holding the job's log "
            "of a run that applied at least one batch"
        )
    return points


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, `q` in [0, 1]."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def rolling(points: Sequence[BatchPoint], size: int = 10) -> list[Window]:
    """For each batch line, the percentiles of it and the `size - 1` lines before it."""
    if size < 1:
        raise ValueError("a window holds at least one batch")
    out = []
    for i, point in enumerate(points):
        window = points[max(0, i - size + 1) : i + 1]
        latencies = [p.max_latency_s for p in window if p.max_latency_s is not None]
        out.append(
            Window(
                at=point.at,
                index=i,
                duration=_spread([p.duration_s for p in window]),
                latency=_spread(latencies) if latencies else None,
                batch_duration=point.duration_s,
                batch_latency=point.max_latency_s,
            )
        )
    return out


def by_table(points: Sequence[BatchPoint]) -> dict[str, list[BatchPoint]]:
    """The batches of each table, tables by their total batch time, largest first."""
    tables: dict[str, list[BatchPoint]] = {}
    for p in points:
        tables.setdefault(p.table, []).append(p)
    return dict(sorted(tables.items(), key=lambda kv: -sum(p.duration_s for p in kv[1])))


def _spread(values: Sequence[float]) -> tuple[float, float, float]:
    return percentile(values, 0.50), percentile(values, 0.95), max(values)


def _stamp(prefix: str) -> datetime | None:
    found = _STAMP.match(prefix.strip())
    if not found:
        return None
    micros = (found.group(2) or "0").ljust(6, "0")
    return datetime.fromisoformat(f"{found.group(1).replace('T', ' ')}.{micros}")


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _field(report: Any, name: str, kind: type, source: str) -> Any:
    if not isinstance(report, dict) or not isinstance(report.get(name), kind):
        raise ReportError(f"{source}: expected an object with {name!r} ({kind.__name__})")
    return report[name]


def _records(items: Any, source: str, required: tuple[str, ...]) -> list[dict[str, Any]]:
    records = list(items) if isinstance(items, list) else []
    for record in records:
        missing = [k for k in required if not isinstance(record, dict) or k not in record]
        if missing:
            raise ReportError(f"{source}: a record lacks {', '.join(missing)}")
    return records


def _non_empty(items: list[_T], source: str) -> list[_T]:
    if not items:
        raise ReportError(f"{source}: no results in it")
    return items

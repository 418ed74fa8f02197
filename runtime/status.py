"""A job's status from what it leaves behind: the model, its health, and how it is shown.

Pure: `runtime/status_read.py` gathers the facts (checkpoint, the job's record beside it,
the target, the source); here they are judged and rendered. Health, worst first:
2 broken (a checkpoint unreadable, a table stopped, the last run ended on a fatal error),
1 lagging (changes wait longer than `max_lag`), 0 healthy.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from config.retention import parse_duration

__all__ = [
    "QueryStatus",
    "Report",
    "RunStatus",
    "TableStatus",
    "health",
    "parse_duration",
    "render_json",
    "render_text",
    "window_counts",
]

HEALTHY, LAGGING, BROKEN = 0, 1, 2
_HEALTH = {HEALTHY: "healthy", LAGGING: "lagging", BROKEN: "broken"}
_HOUR_MS = 3600 * 1000
_MIN_QUIET_S = 60.0  # a query quieter than max(3 triggers, this) with work waiting is stalled


@dataclass
class RunStatus:
    """The last run of the job, from its record."""

    started_ms: int
    once: bool
    ended_ms: int | None = None
    outcome: str | None = None  # ok, stopped, failed; None while running (or killed)
    errors: list[str] = field(default_factory=list)


@dataclass
class QueryStatus:
    """One streaming query (one source, or a table's own landing folder)."""

    name: str  # its checkpoint folder: source, source-<table>
    kind: str  # files, kafka, kinesis
    last_batch_id: int | None = None
    last_batch_ms: int | None = None  # when the last committed batch was applied (or planned)
    pending: int | None = None  # files not read yet, or Kafka messages behind the end
    oldest_pending_ms: int | None = None  # the oldest unapplied change, when the source knows
    position: dict[str, Any] = field(default_factory=dict)  # offsets, shards, files read
    state: str = "unknown"  # running, idle, stalled, stopped, failed, not started
    error: str | None = None  # the checkpoint cannot be read


@dataclass
class TableStatus:
    name: str
    query: str
    last_batch_id: int | None = None
    last_batch_ms: int | None = None
    rows: int | None = None
    tombstones: int | None = None
    applied: int = 0  # changes applied in total (upserts and deletes)
    quarantined: int = 0
    stale: int = 0
    applied_last_hour: int = 0
    quarantined_last_hour: int = 0
    stopped: str | None = None  # why the table is stopped
    error: str | None = None  # the target could not be read


@dataclass
class Report:
    job: str
    now_ms: int
    max_lag_s: float
    trigger_s: float
    run: RunStatus | None
    queries: list[QueryStatus]
    tables: list[TableStatus]
    reasons: list[str] = field(default_factory=list)  # filled by `health`


def window_counts(
    documents: Iterable[Mapping[str, Any]], table: str, now_ms: int
) -> tuple[int, int]:
    """(applied, quarantined) of `table` in the batch documents of the last hour."""
    applied = quarantined = 0
    for document in documents:
        if int(document["at_ms"]) < now_ms - _HOUR_MS:
            continue
        counts = document.get("tables", {}).get(table)
        if counts:
            applied += int(counts["applied"])
            quarantined += int(counts["quarantined"])
    return applied, quarantined


def query_state(query: QueryStatus, run: RunStatus | None, trigger_s: float, now_ms: int) -> str:
    """Whether the query runs, from the run record and its commit times vs the trigger."""
    if run is None:
        return "not started" if query.last_batch_id is None else "stopped"
    if run.outcome is not None:
        return "failed" if run.outcome == "failed" else "stopped"
    if run.once:
        return "running"  # a --once run: it ends by itself
    quiet_ms = max(3 * trigger_s, _MIN_QUIET_S) * 1000
    last = max(query.last_batch_ms or 0, run.started_ms)
    if now_ms - last <= quiet_ms:
        return "running"
    return "stalled" if query.pending else "idle"


def health(report: Report) -> int:
    """The exit code, with its reasons in `report.reasons`."""
    broken, lagging = [], []
    run = report.run
    if run is not None and run.outcome == "failed":
        reason = "; ".join(run.errors) or "no reason recorded"
        broken.append(f"the last run ended on a fatal error: {reason}")
    for query in report.queries:
        query.state = query_state(query, run, report.trigger_s, report.now_ms)
        if query.error:
            broken.append(f"query {query.name}: checkpoint unreadable: {query.error}")
        elif (lag := _lag_s(query, report.now_ms, report.max_lag_s)) is not None:
            lagging.append(f"query {query.name}: {lag}")
    for table in report.tables:
        if table.stopped:
            broken.append(f"table {table.name} stopped: {table.stopped}")
        if table.error:
            broken.append(f"table {table.name}: {table.error}")
    report.reasons = broken + lagging
    return BROKEN if broken else LAGGING if lagging else HEALTHY


def _lag_s(query: QueryStatus, now_ms: int, max_lag_s: float) -> str | None:
    """Why the query lags beyond `max_lag_s`, or None: changes wait, and the oldest is older
    than that (when the source says) or no batch was applied for that long."""
    if not query.pending:
        return None
    if query.oldest_pending_ms is not None:
        age = (now_ms - query.oldest_pending_ms) / 1000
        if age > max_lag_s:
            return (
                f"{query.pending} pending, the oldest for {_ago(age)} (max lag {_ago(max_lag_s)})"
            )
        return None
    since = None if query.last_batch_ms is None else (now_ms - query.last_batch_ms) / 1000
    if since is None or since > max_lag_s:
        last = "no batch applied yet" if since is None else f"last batch {_ago(since)} ago"
        return f"{query.pending} pending, {last} (max lag {_ago(max_lag_s)})"
    return None


# ------------------------------------------------------------------ rendering


def render_json(report: Report, code: int) -> str:
    document = {"health": _HEALTH[code], "exit_code": code, **asdict(report)}
    document["now"] = _iso(report.now_ms)
    return json.dumps(document, indent=2, sort_keys=True)


def render_text(report: Report, code: int) -> str:
    """The human table: the job, its last run, each query, then each table."""
    now = report.now_ms
    lines = [f"{report.job}: {_HEALTH[code].upper()}  ({_iso(now)})"]
    lines += [f"  ! {reason}" for reason in report.reasons]
    lines.append(f"run      {_run_line(report.run, now)}")
    for q in report.queries:
        last = _when(q.last_batch_id, q.last_batch_ms, now)
        lines.append(f"query    {q.name} ({q.kind}): {q.state}; last batch {last}")
        lines.append(f"         {_source_line(q, now)}")
    header = ("table", "last batch", "rows", "tombstones", "applied", "last hour",
              "quarantined", "last hour")  # fmt: skip
    rows = [header] + [
        (
            t.name + (" (STOPPED)" if t.stopped else ""),
            _when(t.last_batch_id, t.last_batch_ms, now),
            _n(t.rows),
            _n(t.tombstones),
            str(t.applied),
            str(t.applied_last_hour),
            str(t.quarantined),
            str(t.quarantined_last_hour),
        )
        for t in report.tables
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines.append("")
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _run_line(run: RunStatus | None, now: int) -> str:
    if run is None:
        return "none recorded"
    mode = " (--once)" if run.once else ""
    started = f"started {_iso(run.started_ms)}{mode}"
    if run.ended_ms is None:
        return f"{started}, not ended (running, or killed)"
    errors = f": {'; '.join(run.errors)}" if run.errors else ""
    return f"{started}, ended {_ago((now - run.ended_ms) / 1000)} ago: {run.outcome}{errors}"


def _source_line(query: QueryStatus, now: int) -> str:
    if query.error:
        return f"checkpoint unreadable: {query.error}"
    pending = "-" if query.pending is None else str(query.pending)
    what = {"files": "files pending", "kafka": "messages behind", "kinesis": "pending"}
    parts = [f"{what.get(query.kind, 'pending')} {pending}"]
    if query.oldest_pending_ms is not None:
        parts.append(f"oldest {_ago((now - query.oldest_pending_ms) / 1000)}")
    for key, value in query.position.items():
        parts.append(f"{key} {_short(value)}")
    return ", ".join(parts)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


def _when(batch: int | None, at_ms: int | None, now: int) -> str:
    if batch is None:
        return "-"
    return str(batch) if at_ms is None else f"{batch} ({_ago((now - at_ms) / 1000)} ago)"


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def _ago(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

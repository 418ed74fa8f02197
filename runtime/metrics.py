"""Per-batch metrics as one structured log line, the run summary, and what a source
batch measures of itself: its Spark jobs (`JobCount`) and its phases' times (`Phases`).

Only counts and timings: never a row value.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pyspark import SparkContext

from sinks.base import BatchResult

log = logging.getLogger("stream_cdc")


@dataclass
class BatchMetrics:
    table: str
    batch_id: int
    read_by_op: dict[str, int]
    quarantined: int
    skipped: int  # control records, other tables
    result: BatchResult
    duration_s: float
    max_latency_s: float | None = None  # oldest change of the batch: commit -> visible
    min_latency_s: float | None = None  # newest change of the batch
    ddl: int = 0  # of the skipped: table alterations of this table at the source

    def fields(self) -> dict[str, object]:
        """Counts and times of the batch, for its log line."""
        return {
            "table": self.table,
            "batch_id": self.batch_id,
            "read": self.read_by_op,
            "quarantined": self.quarantined,
            "skipped": self.skipped,
            "ddl": self.ddl,
            "replayed": self.result.skipped,
            "upserts": self.result.upserts,
            "deletes": self.result.deletes,
            "stale": self.result.stale,
            "partitions_rewritten": self.result.partitions_rewritten,
            "rows_in_table": self.result.rows_in_table,
            "duration_s": round(self.duration_s, 3),
            "refreshed": self.result.refreshed,
            "max_latency_s": _rounded(self.max_latency_s),
            "min_latency_s": _rounded(self.min_latency_s),
            "timings": {k: round(v, 3) for k, v in self.result.timings.items()},
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class TableSummary:
    table: str
    location: str
    note: str | None = None  # how the table started, when it matters (reprocessing)
    batches: int = 0
    read_by_op: Counter[str] = field(default_factory=Counter)
    quarantined: int = 0
    skipped: int = 0
    upserts: int = 0
    deletes: int = 0
    stale: int = 0
    partitions_rewritten: int = 0
    rows_in_table: int | None = None

    def add(self, metrics: BatchMetrics) -> None:
        self.batches += 1
        self.read_by_op.update(metrics.read_by_op)
        self.quarantined += metrics.quarantined
        self.skipped += metrics.skipped
        self.upserts += metrics.result.upserts
        self.deletes += metrics.result.deletes
        self.stale += metrics.result.stale
        self.partitions_rewritten += metrics.result.partitions_rewritten
        if metrics.result.rows_in_table is not None:
            self.rows_in_table = metrics.result.rows_in_table


_OP_NAMES = {"L": "load", "I": "insert", "U": "update", "D": "delete"}


def render_summary(
    tables: list[TableSummary],
    duration_s: float,
    quarantine: str,
    *,
    other_tables: int = 0,
    unrouted: int = 0,
) -> str:
    """A short human summary of a run."""
    lines = [f"stream-cdc: {len(tables)} table(s) in {duration_s:.1f} s"]
    if other_tables:
        lines.append(f"  records of tables not replicated, skipped: {other_tables}")
    if unrouted:
        lines.append(f"  records of no table, quarantined: {unrouted}  ({quarantine}/_unrouted)")
    for t in tables:
        read = ", ".join(
            f"{_OP_NAMES.get(op, op)} {n}" for op, n in sorted(t.read_by_op.items()) if n
        )
        lines += [
            f"  {t.table}: {t.batches} batch(es)",
            f"    rows read by op      {read or 'none'}",
            f"    rows quarantined     {t.quarantined}"
            + (f"  ({quarantine}/{t.table})" if t.quarantined else ""),
            f"    records skipped      {t.skipped}",
            f"    applied              {t.upserts} upserts, {t.deletes} deletes,"
            f" {t.stale} stale ignored",
            f"    partitions rewritten {t.partitions_rewritten}",
            f"    rows in the table    {_or_unknown(t.rows_in_table)}",
            f"    table                {t.location}",
        ]
        if t.note:
            lines.append(f"    note                 {t.note}")
    return "\n".join(lines)


def _or_unknown(value: int | None) -> str:
    return "-" if value is None else str(value)


class JobCount:
    """The Spark jobs of the calling thread's job group started since it was made.

    A streaming query runs each batch's jobs in its group (the query's run id; the
    threads that apply tables side by side join it, sinks/target.py), and Spark numbers
    jobs in order: the batch's are those of the group with a greater number than any
    before it. Spark keeps the last 1,000 jobs (`spark.ui.retainedJobs`): a batch that runs
    more is counted short."""

    def __init__(self, context: SparkContext) -> None:
        self._jvm: Any = context._jvm
        self._tracker: Any = context._jsc.statusTracker()
        self._group = context.getLocalProperty("spark.jobGroup.id")
        self._before = max(self._ids(), default=-1)

    def _ids(self) -> list[int]:
        """The group's job ids, as text from the JVM in one call: pyspark's own list asks
        the JVM for each of them (a thousand calls for a long-running query)."""
        ids = self._tracker.getJobIdsForGroup(self._group)
        text = str(self._jvm.java.util.Arrays.toString(ids)).strip("[]")
        return [int(i) for i in text.split(",") if i.strip()]

    def since(self) -> int:
        return sum(1 for job in self._ids() if job > self._before)


class Phases:
    """`with phase(name):` adds the block's time to `timings[name]`."""

    def __init__(self, timings: dict[str, float]) -> None:
        self._timings = timings

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        mark = time.monotonic()
        try:
            yield
        finally:
            self._timings[name] = self._timings.get(name, 0.0) + time.monotonic() - mark

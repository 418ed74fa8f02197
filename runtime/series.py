"""Every metric series the job exports, and one batch's metrics as samples of them.

Pure: `samples` turns the batch metrics (the same counts and timings as the batch log
line) into `Sample`s; the Prometheus exporter (runtime/prometheus.py) and the CloudWatch
publisher (runtime/cloudwatch.py) each render them their own way. Labels are names of
tables, sources, ops and phases, never row values.

Names follow Prometheus' conventions: a `stream_cdc_` prefix, the unit in the name
(`_seconds`), `_total` on counters; what CloudWatch calls each series is beside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from runtime.batch import SourceBatch
from runtime.metrics import BatchMetrics

__all__ = ["SERIES", "Sample", "Series", "samples"]

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Series:
    name: str  # Prometheus name
    kind: Kind
    labels: tuple[str, ...]
    help: str
    cloudwatch: str | None = None  # CloudWatch metric name; None: not sent there
    unit: str = "Count"  # CloudWatch unit
    job_total: bool = False  # CloudWatch also gets the job's total (what alarms read)


@dataclass(frozen=True)
class Sample:
    series: Series
    labels: tuple[tuple[str, str], ...]  # (name, value) in the series' label order
    value: float


_T = ("source", "table")
_S = ("source",)

BATCHES = Series(
    "stream_cdc_batches_total", "counter", _T, "micro-batches that touched the table", "Batches"
)
ROWS_READ = Series(
    "stream_cdc_rows_read_total",
    "counter",
    (*_T, "op"),
    "records decoded, by op: L full load, I insert, U update, D delete",
    "RowsRead",
)
QUARANTINED = Series(
    "stream_cdc_rows_quarantined_total",
    "counter",
    _T,
    "records of the table that could not be decoded or typed (quarantined)",
    "RowsQuarantined",
    job_total=True,
)
SKIPPED = Series(
    "stream_cdc_records_skipped_total",
    "counter",
    _T,
    "control records, tombstones and table alterations of the table, skipped",
    "RecordsSkipped",
)
APPLIED = Series(
    "stream_cdc_changes_applied_total",
    "counter",
    (*_T, "action"),
    "changes the target accepted, by action: upsert, delete",
    "ChangesApplied",
)
STALE = Series(
    "stream_cdc_changes_stale_total",
    "counter",
    _T,
    "changes older than what the target holds, ignored",
    "ChangesStale",
)
TABLE_ROWS = Series(
    "stream_cdc_table_rows",
    "gauge",
    _T,
    "rows in the target table after the last batch (where the engine counts them)",
    "RowsInTable",
)
DURATION = Series(
    "stream_cdc_batch_duration_seconds",
    "histogram",
    _T,
    "time to decode and apply the table's part of a batch",
    "BatchDuration",
    "Seconds",
)
PHASE = Series(
    "stream_cdc_batch_phase_seconds_total",
    "counter",
    (*_T, "phase"),
    "time spent in each phase of applying batches (the target's own timings)",
    "BatchPhaseDuration",
    "Seconds",
)
LATENCY = Series(
    "stream_cdc_commit_to_visible_seconds",
    "histogram",
    _T,
    "source commit to visible in the target, for the oldest change of each batch",
    "CommitToVisible",
    "Seconds",
    job_total=True,
)
LAST_BATCH = Series(
    "stream_cdc_last_batch_timestamp_seconds",
    "gauge",
    _T,
    "when the table's last batch was applied (Unix time)",
)
SOURCE_ROWS = Series(
    "stream_cdc_source_rows_total",
    "counter",
    _S,
    "records the source's query read (Spark's progress)",
    "SourceRows",
)
SOURCE_LAG = Series(
    "stream_cdc_source_lag_offsets",
    "gauge",
    _S,
    "Kafka messages not yet read when the batch ended, most behind partition",
    "SourceLagOffsets",
    job_total=True,
)
OTHER_TABLES = Series(
    "stream_cdc_records_other_tables_total",
    "counter",
    _S,
    "records of tables that are not replicated, skipped",
)
UNROUTED = Series(
    "stream_cdc_records_unrouted_total",
    "counter",
    _S,
    "records that belong to no table (quarantined under _unrouted)",
    "RecordsUnrouted",
    job_total=True,
)
SOURCE_JOBS = Series(
    "stream_cdc_source_spark_jobs_total",
    "counter",
    _S,
    "Spark jobs the source's batches ran, every table's included",
    "SourceSparkJobs",
)
SOURCE_PHASE = Series(
    "stream_cdc_source_phase_seconds_total",
    "counter",
    (*_S, "phase"),
    "time the source's batches spent in each phase: route, decode, quarantine, apply, total",
    "SourcePhaseDuration",
    "Seconds",
)

SERIES: tuple[Series, ...] = (
    BATCHES, ROWS_READ, QUARANTINED, SKIPPED, APPLIED, STALE, TABLE_ROWS, DURATION,
    PHASE, LATENCY, LAST_BATCH, SOURCE_ROWS, SOURCE_LAG, OTHER_TABLES, UNROUTED,
    SOURCE_JOBS, SOURCE_PHASE,
)  # fmt: skip


def samples(
    query: str, batch: SourceBatch, source: dict[str, Any] | None, *, now: float | None = None
) -> list[Sample]:
    """One batch of one source's query (its tables' metrics, and the source side of
    Spark's progress when it came) as samples: counter increments, gauge values and
    histogram observations."""
    at = time.time() if now is None else now
    out: list[Sample] = []
    for metrics in batch.tables:
        out += _table_samples(query, metrics, at)
    labels = (("source", query),)
    if batch.other_tables:
        out.append(Sample(OTHER_TABLES, labels, float(batch.other_tables)))
    if batch.unrouted:
        out.append(Sample(UNROUTED, labels, float(batch.unrouted)))
    if batch.spark_jobs is not None:
        out.append(Sample(SOURCE_JOBS, labels, float(batch.spark_jobs)))
    out += [
        Sample(SOURCE_PHASE, (*labels, ("phase", _phase(name))), seconds)
        for name, seconds in sorted(batch.timings.items())
    ]
    if source is not None:
        out.append(Sample(SOURCE_ROWS, labels, float(source.get("input_rows") or 0)))
        lag = source.get("offsets_behind_latest")
        if lag is not None:
            out.append(Sample(SOURCE_LAG, labels, float(lag)))
    return out


def _table_samples(query: str, metrics: BatchMetrics, now: float) -> list[Sample]:
    base = (("source", query), ("table", metrics.table))
    result = metrics.result
    out = [
        Sample(BATCHES, base, 1.0),
        Sample(QUARANTINED, base, float(metrics.quarantined)),
        Sample(SKIPPED, base, float(metrics.skipped)),
        Sample(STALE, base, float(result.stale)),
        Sample(APPLIED, (*base, ("action", "upsert")), float(result.upserts)),
        Sample(APPLIED, (*base, ("action", "delete")), float(result.deletes)),
        Sample(DURATION, base, metrics.duration_s),
        Sample(LAST_BATCH, base, now),
    ]
    out += [
        Sample(ROWS_READ, (*base, ("op", op)), float(n))
        for op, n in sorted(metrics.read_by_op.items())
    ]
    out += [
        Sample(PHASE, (*base, ("phase", _phase(name))), seconds)
        for name, seconds in sorted(result.timings.items())
    ]
    if result.rows_in_table is not None:
        out.append(Sample(TABLE_ROWS, base, float(result.rows_in_table)))
    if metrics.max_latency_s is not None:
        out.append(Sample(LATENCY, base, metrics.max_latency_s))
    return out


def _phase(timing: str) -> str:
    """`stage_s` -> `stage`: the unit is the series'."""
    return timing.removesuffix("_s")

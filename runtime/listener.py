"""Structured log lines per micro-batch: the sink's counts joined to Spark's progress.

The batch handler hands a source batch's metrics to `BatchLog.sink_done`; Spark's
progress event for the same (query, batch) brings the source side (input rows and rates,
offsets behind the latest for Kafka, trigger durations). Whichever comes second writes
one line per table the batch touched (and one for the source when it skipped or
quarantined records of no table), with what the whole source batch cost (its Spark
jobs and phases, `source_batch`), and hands the pair to the metrics exporters
(runtime/export.py); `flush` writes what is left when the job stops.
Counts and times only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from pyspark.sql.streaming.listener import StreamingQueryListener

from runtime.batch import SourceBatch
from runtime.metrics import log

_LAG_METRICS = ("avgOffsetsBehindLatest", "maxOffsetsBehindLatest")

# What else gets each (query, batch, source side) pair: the metrics exporters.
Export = Callable[[str, SourceBatch, "dict[str, Any] | None"], None]


def source_fields(progress: Any) -> dict[str, Any]:
    """The source side of one StreamingQueryProgress, as plain numbers."""
    lag: dict[str, float] = {}
    for source in progress.sources or []:
        for name in _LAG_METRICS:
            value = (source.metrics or {}).get(name)
            if value is not None:
                lag[name] = max(lag.get(name, 0.0), float(value))
    durations = dict(progress.durationMs or {})
    return {
        "input_rows": int(progress.numInputRows),
        "input_rows_per_s": round(float(progress.inputRowsPerSecond or 0.0), 1),
        "processed_rows_per_s": round(float(progress.processedRowsPerSecond or 0.0), 1),
        "trigger_ms": durations.get("triggerExecution"),
        "offsets_behind_latest": lag.get("maxOffsetsBehindLatest"),
    }


class BatchLog(StreamingQueryListener):
    """Pairs sink metrics and progress events by (query name, batch id)."""

    def __init__(self, export: Export | None = None) -> None:
        self._export = export
        self._lock = threading.Lock()
        self._sink: dict[tuple[str, int], SourceBatch] = {}
        self._source: dict[tuple[str, int], dict[str, Any]] = {}
        self._terminated: set[str] = set()
        self._changed = threading.Condition(self._lock)  # a pair written, a query ended

    def sink_done(self, query: str, batch: SourceBatch) -> None:
        key = (query, batch.batch_id)
        with self._lock:
            source = self._source.pop(key, None)
            if source is None:
                self._sink[key] = batch
                return
        self._write(query, batch, source)

    def onQueryStarted(self, event: Any) -> None:  # noqa: N802 (Spark names it)
        return None

    def onQueryProgress(self, event: Any) -> None:  # noqa: N802 (Spark names it)
        progress = event.progress
        key = (str(progress.name), int(progress.batchId))
        source = source_fields(progress)
        with self._changed:
            batch = self._sink.pop(key, None)
            if batch is None:
                if source["input_rows"]:
                    self._source[key] = source
                return
            self._changed.notify_all()
        self._write(key[0], batch, source)

    def onQueryIdle(self, event: Any) -> None:  # noqa: N802 (Spark names it)
        return None

    def onQueryTerminated(self, event: Any) -> None:  # noqa: N802 (Spark names it)
        with self._changed:
            self._terminated.add(str(event.id))
            self._changed.notify_all()

    def wait_terminated(self, query_ids: list[str], wait_s: float = 10.0) -> bool:
        """Wait until Spark has delivered the termination of every query, its last event.

        Spark's listener bus delivers events on a thread of its own, through the py4j
        callback server: one still queued or under way when the listener is removed and
        Python exits meets a closed connection, and Spark logs it as an ERROR with a
        `Connection reset` trace. Once every query's termination has arrived, nothing
        else of them is coming: the listener can go, and the driver with it.
        """
        deadline = time.monotonic() + wait_s
        with self._changed:
            while not set(query_ids) <= self._terminated:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def flush(self, wait_s: float = 3.0) -> None:
        """Wait a little for the last progress events (back as soon as every batch has its
        pair), then write what is left unpaired."""
        deadline = time.monotonic() + wait_s
        with self._changed:
            while self._sink and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            pending = list(self._sink.items())
            self._sink.clear()
            self._source.clear()
        for (query, _), batch in pending:
            self._write(query, batch, None)

    def _write(self, query: str, batch: SourceBatch, source: dict[str, Any] | None) -> None:
        if self._export is not None:
            self._export(query, batch, source)
        whole = batch.fields()
        for metrics in batch.tables:
            line = {
                "event": "batch",
                "query": query,
                **metrics.fields(),
                "source": source,
                "source_batch": whole,
            }
            log.info(json.dumps(line))
        if batch.other_tables or batch.unrouted:
            counts = {"other_tables": batch.other_tables, "unrouted": batch.unrouted}
            line = {"event": "source", "query": query, "batch_id": batch.batch_id, **counts,
                    "source_batch": whole}  # fmt: skip
            log.info(json.dumps(line))

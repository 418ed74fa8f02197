"""The job's durable record for `status`: one small JSON document per batch and per run.

Spark's checkpoint says which offsets a batch read, not what it applied. Beside it, under
`<checkpoint>/_status/` (a folder of the checkpoint root that Spark never reads), the job
keeps:

    _status/batches/<query>/<batch id>-<unix ms>.json   one per batch of a query
    _status/runs/<start unix ms>.json                   a run started (with --once or not)
    _status/runs/<start unix ms>.end.json               how it ended: ok, stopped, failed

`<query>` is the query's checkpoint folder name (`source`, `source-<table>`). A batch
document holds the batch's counts per table (changes applied, quarantined, stale, rows in
the table), the tables stopped then with the reason, and the query's running totals per
table (with its last batch), carried from the previous document, so the newest one alone
says "in total". Bounded: a batch keeps the
documents of the last `_WINDOW_MS` (two hours: "the last hour" is summed from them) and at
least the newest `_KEEP_BATCHES`; the runs folder keeps the newest `_KEEP_RUNS` runs.

Counts and times only, never a row value. Documents are written once under their final
name (`Storage.write_text_atomic`): a batch Spark runs again after a crash finds its
document and adds nothing, so the totals count each batch once. Writing the record never
fails a batch: a failure is logged and the job carries on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from runtime.metrics import BatchMetrics, log
from sinks.storage import Storage

__all__ = ["BatchRecord", "RunRecord", "batch_name", "parse_batch_name", "status_root"]

_WINDOW_MS = 2 * 3600 * 1000
_KEEP_BATCHES = 10
_KEEP_RUNS = 20
_COUNTS = ("batches", "applied", "quarantined", "stale")


def status_root(checkpoint_root: str) -> str:
    """Where the job's record lives: beside the queries' checkpoints."""
    return f"{checkpoint_root.rstrip('/')}/_status"


def batch_name(batch_id: int, at_ms: int) -> str:
    """A batch document's name: sorts by batch id, says when without being read."""
    return f"{batch_id:020d}-{at_ms}.json"


def parse_batch_name(name: str) -> tuple[int, int] | None:
    """(batch id, unix ms) of a batch document's name; None for anything else."""
    stem, _, extension = name.partition(".")
    batch, _, at = stem.partition("-")
    if extension != "json" or not batch.isdigit() or not at.isdigit():
        return None
    return int(batch), int(at)


def table_counts(metrics: BatchMetrics) -> dict[str, Any]:
    """One table's part of a batch document."""
    result = metrics.result
    return {
        "applied": 0 if result.skipped else result.upserts + result.deletes,
        "quarantined": metrics.quarantined,
        "stale": 0 if result.skipped else result.stale,
        "rows_in_table": result.rows_in_table,
        "max_latency_s": None if metrics.max_latency_s is None else round(metrics.max_latency_s, 3),
    }


def next_totals(
    previous: Mapping[str, Mapping[str, Any]],
    tables: Mapping[str, Mapping[str, Any]],
    batch_id: int,
    at_ms: int,
) -> dict[str, dict[str, Any]]:
    """Each table's running totals after a batch, with its last batch and rows in the
    table (a table the batch did not touch is carried unchanged)."""
    totals = {name: dict(values) for name, values in previous.items()}
    for name, counts in tables.items():
        total = totals.setdefault(name, dict.fromkeys(_COUNTS, 0))
        total["batches"] = int(total.get("batches", 0)) + 1
        for key in ("applied", "quarantined", "stale"):
            total[key] = int(total.get(key, 0)) + int(counts[key])
        total["last_batch_id"] = batch_id
        total["last_at_ms"] = at_ms
        if counts.get("rows_in_table") is not None:
            total["rows_in_table"] = counts["rows_in_table"]
    return totals


def expired(names: Iterable[str], now_ms: int) -> list[str]:
    """Batch documents the window lets go: older than it, and not among the newest kept."""
    parsed = sorted((p, n) for n in names if (p := parse_batch_name(n)) is not None)
    old = parsed[:-_KEEP_BATCHES] if len(parsed) > _KEEP_BATCHES else []
    return [name for (_, at), name in old if at < now_ms - _WINDOW_MS]


@dataclass
class BatchRecord:
    """Writes one query's batch documents; one per query, used from its batch thread."""

    spark: SparkSession
    checkpoint_root: str
    query: str  # the query's checkpoint folder name
    _totals: dict[str, dict[str, Any]] | None = field(default=None, init=False)
    _storage: Storage | None = field(default=None, init=False)

    @property
    def folder(self) -> str:
        return f"{status_root(self.checkpoint_root)}/batches/{self.query}"

    def write(
        self, batch_id: int, tables: list[BatchMetrics], stopped: Mapping[str, str], unrouted: int
    ) -> None:
        """Record one batch; logged, never raised, when the record cannot be written."""
        try:
            self._write(batch_id, tables, stopped, unrouted)
        except Exception as exc:
            log.warning("status record of batch %d not written: %s", batch_id, _first_line(exc))

    def _write(
        self, batch_id: int, tables: list[BatchMetrics], stopped: Mapping[str, str], unrouted: int
    ) -> None:
        if self._storage is None:
            self._storage = Storage(self.spark, self.folder)
        storage = self._storage
        names = storage.list_names(self.folder)
        parsed = {n: p for n in names if (p := parse_batch_name(n)) is not None}
        if any(batch == batch_id for batch, _ in parsed.values()):
            return  # a batch run again after a crash: already counted
        if self._totals is None:
            self._totals = _latest_totals(storage, self.folder, parsed)
        now_ms = int(time.time() * 1000)
        counts = {m.table: table_counts(m) for m in tables}
        totals = next_totals(self._totals, counts, batch_id, now_ms)
        document = {
            "batch_id": batch_id,
            "at_ms": now_ms,
            "tables": counts,
            "stopped": dict(stopped),
            "unrouted": unrouted,
            "totals": totals,
        }
        name = f"{self.folder}/{batch_name(batch_id, now_ms)}"
        storage.write_text_atomic(name, json.dumps(document, sort_keys=True))
        self._totals = totals
        for old in expired(names, now_ms):
            storage.delete(f"{self.folder}/{old}")


def _latest_totals(
    storage: Storage, folder: str, parsed: Mapping[str, tuple[int, int]]
) -> dict[str, dict[str, Any]]:
    """The running totals of the newest batch document (none: zero)."""
    if not parsed:
        return {}
    newest = max(parsed, key=lambda n: parsed[n])
    document = json.loads(storage.read_text(f"{folder}/{newest}"))
    return {k: dict(v) for k, v in document.get("totals", {}).items()}


@dataclass
class RunRecord:
    """A run's start and end documents."""

    spark: SparkSession
    checkpoint_root: str
    once: bool
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    @property
    def folder(self) -> str:
        return f"{status_root(self.checkpoint_root)}/runs"

    def started(self) -> None:
        document = {"started_ms": self.started_ms, "once": self.once}
        self._put(f"{self.started_ms:020d}.json", document)
        self._forget_old_runs()

    def ended(self, outcome: str, errors: list[str]) -> None:
        """`outcome`: ok, stopped (by the user) or failed; `errors`: one line each."""
        document = {
            "started_ms": self.started_ms,
            "ended_ms": int(time.time() * 1000),
            "outcome": outcome,
            "errors": [_first_line(e) for e in errors],
        }
        self._put(f"{self.started_ms:020d}.end.json", document)

    def _put(self, name: str, document: Mapping[str, Any]) -> None:
        try:
            storage = Storage(self.spark, self.folder)
            storage.write_text_atomic(f"{self.folder}/{name}", json.dumps(document))
        except Exception as exc:
            log.warning("status record %s not written: %s", name, _first_line(exc))

    def _forget_old_runs(self) -> None:
        try:
            storage = Storage(self.spark, self.folder)
            names = storage.list_names(self.folder)
            starts = sorted({n.split(".", 1)[0] for n in names if n[:1].isdigit()})
            for start in starts[:-_KEEP_RUNS]:
                for name in (f"{start}.json", f"{start}.end.json"):
                    storage.delete(f"{self.folder}/{name}")
        except Exception as exc:
            log.warning("old status runs not removed: %s", _first_line(exc))


def _first_line(error: BaseException | str) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

"""Gather a job's status without starting a stream: the thin I/O edge of runtime/status.py.

Reads, never writes: each query's checkpoint (runtime/checkpoint_log.py), the job's record
beside it (runtime/journal.py), the target's own bookkeeping for rows and tombstones
(runtime/status_targets.py), and the source for what is left to read (landing files not
in the checkpoint's file log; the Kafka brokers' end offsets; a Kinesis stream says
nothing without reading it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from pyspark.sql import SparkSession

from config import FilesSource, JobConfig, KafkaSource, TableConfig
from config.tables import TablePattern
from runtime.checkpoint_log import (
    CheckpointError,
    PlannedBatch,
    file_log_names,
    kafka_offsets,
    kinesis_positions,
    last_committed,
    normal_path,
    parse_file_log,
    parse_offsets,
    query_id,
)
from runtime.checkpoints import source_checkpoint
from runtime.journal import parse_batch_name, status_root
from runtime.status import (
    QueryStatus,
    Report,
    RunStatus,
    TableStatus,
    parse_duration,
    window_counts,
)
from runtime.status_targets import target_counts
from sinks.storage import Storage
from sources.files import landing_path
from sources.kafka import end_offsets, topic_pattern

__all__ = ["read_status"]

_HOUR_MS = 3600 * 1000


def read_status(spark: SparkSession, config: JobConfig, *, max_lag_s: float) -> Report:
    """Everything `status` shows, as of now."""
    now_ms = int(time.time() * 1000)
    root = config.checkpoint.rstrip("/")
    storage = Storage(spark, root)
    queries, tables = [], []
    for own in _own_folders(config):
        checkpoint = source_checkpoint(config, own)
        name = checkpoint.rsplit("/", 1)[-1]
        query = _query(spark, config, checkpoint, name, own=own)
        try:
            documents = _batch_documents(storage, f"{status_root(root)}/batches/{name}", now_ms)
        except (ValueError, KeyError, TypeError) as exc:
            documents = []
            query.error = query.error or f"status record unreadable: {_first_line(exc)}"
        if documents and documents[-1]["batch_id"] == query.last_batch_id:
            query.last_batch_ms = int(documents[-1]["at_ms"])  # applied, not just planned
        queries.append(query)
        for table in _tables_of(config, documents, own):
            tables.append(
                _table(spark, config, table, query=name, documents=documents, now_ms=now_ms)
            )
    return Report(
        job=config.name,
        now_ms=now_ms,
        max_lag_s=max_lag_s,
        trigger_s=parse_duration(config.trigger_interval),
        run=_last_run(storage, f"{status_root(root)}/runs"),
        queries=queries,
        tables=sorted(tables, key=lambda t: t.name),
    )


def _own_folders(config: JobConfig) -> list[str | None]:
    """The queries: the source's (None) and, for landing files, one per table with a
    landing folder of its own (runtime/runner.py)."""
    if not isinstance(config.source, FilesSource):
        return [None]
    return [None, *[t.name for t in config.explicit_tables if t.path]]


def _tables_of(config: JobConfig, documents: list[dict[str, Any]], own: str | None) -> list[str]:
    """The tables a query feeds: its declared ones and those its batches recorded."""
    if own is not None:
        return [own]
    declared = {t.name for t in config.explicit_tables if not t.path}
    recorded = set(documents[-1]["totals"]) if documents else set()
    return sorted(declared | recorded)


# ------------------------------------------------------------------ the query


def _query(
    spark: SparkSession, config: JobConfig, checkpoint: str, name: str, *, own: str | None
) -> QueryStatus:
    source = config.source
    query = QueryStatus(name=name, kind=source.kind)
    try:
        planned = _committed_batch(Storage(spark, checkpoint), checkpoint)
        if planned is not None:
            query.last_batch_id = planned.batch_id
            query.last_batch_ms = planned.planned_ms
        if isinstance(source, FilesSource):
            table = next((t for t in config.explicit_tables if t.name == own), None)
            landing = source.path if table is None else landing_path(source, table)
            _files_position(spark, checkpoint, landing, source.format, planned, query)
        elif isinstance(source, KafkaSource):
            _kafka_position(spark, config, source, planned, query)
        elif planned is not None and planned.sources:
            query.position = {"shards": kinesis_positions(planned.sources[0])}
    except CheckpointError as exc:
        query.error = str(exc)
    except (OSError, ValueError) as exc:
        query.error = _first_line(exc)
    return query


def _committed_batch(storage: Storage, checkpoint: str) -> PlannedBatch | None:
    """The last batch the checkpoint committed, with what it read to; None before any."""
    if not storage.exists(checkpoint):
        return None
    names = storage.list_names(checkpoint)
    if "metadata" not in names:
        if "offsets" in names or "commits" in names:
            raise CheckpointError(f"{checkpoint}: no metadata file")
        return None
    query_id(storage.read_text(f"{checkpoint}/metadata"))
    batch = last_committed(storage.list_names(f"{checkpoint}/commits"))
    if batch is None:
        return None
    offsets = f"{checkpoint}/offsets/{batch}"
    if not storage.exists(offsets):
        raise CheckpointError(f"commits/{batch} has no offsets/{batch}")
    return parse_offsets(batch, storage.read_text(offsets))


def _files_position(  # noqa: PLR0917 (one call site, every argument a different kind)
    spark: SparkSession,
    checkpoint: str,
    landing: str,
    fmt: str,
    planned: PlannedBatch | None,
    query: QueryStatus,
) -> None:
    """Files under the landing root that no committed batch read: pending."""
    storage = Storage(spark, checkpoint)
    log = f"{checkpoint}/sources/0"
    read: set[str] = set()
    committed = -1 if planned is None else planned.batch_id
    for name in file_log_names(storage.list_names(log)):
        for path, batch in parse_file_log(name, storage.read_text(f"{log}/{name}")):
            if batch <= committed:
                read.add(path)
    files = Storage(spark, landing).list_files(landing)
    pending = [
        (path, at)
        for path, at in files
        if _read_by_spark(path, landing, fmt) and normal_path(path) not in read
    ]
    query.pending = len(pending)
    query.oldest_pending_ms = min((at for _, at in pending), default=None)
    query.position = {"files read": len(read)}


def _read_by_spark(path: str, root: str, fmt: str) -> bool:
    """Whether Spark's file source reads it: not hidden (`.`/`_` names, below the root),
    and a `.parquet` file for DMS Parquet (the job's `pathGlobFilter`)."""
    relative = normal_path(path)[len(normal_path(root).rstrip("/")) + 1 :]
    parts = relative.split("/")
    if any(p.startswith(".") or (p.startswith("_") and "=" not in p) for p in parts):
        return False
    return not (fmt == "dms-parquet" and not parts[-1].endswith(".parquet"))


def _kafka_position(
    spark: SparkSession,
    config: JobConfig,
    source: KafkaSource,
    planned: PlannedBatch | None,
    query: QueryStatus,
) -> None:
    """Committed offsets from the checkpoint, the brokers' end offsets, and the lag."""
    read = kafka_offsets(planned.sources[0]) if planned and planned.sources else {}
    include = [p for t in config.tables if isinstance(t, TablePattern) for p in t.include]
    pattern = topic_pattern(source, config.explicit_tables, include)
    held = end_offsets(spark, source, pattern)
    query.pending = sum(
        max(end - max(read.get(tp, first), first), 0) for tp, (first, end) in held.items()
    )
    query.position = {
        "partitions": len(held),
        "offsets": {f"{t}/{p}": offset for (t, p), offset in sorted(read.items())},
    }


# ------------------------------------------------------------------ the record


def _batch_documents(storage: Storage, folder: str, now_ms: int) -> list[dict[str, Any]]:
    """The batch documents of the last hour, and the newest one (for the totals)."""
    parsed = sorted(
        (p, n) for n in storage.list_names(folder) if (p := parse_batch_name(n)) is not None
    )
    wanted = [n for (_, at), n in parsed if at >= now_ms - _HOUR_MS]
    if parsed and parsed[-1][1] not in wanted:
        wanted.append(parsed[-1][1])
    documents = [json.loads(storage.read_text(f"{folder}/{n}")) for n in wanted]
    return sorted(documents, key=lambda d: (d["batch_id"], d["at_ms"]))


def _last_run(storage: Storage, folder: str) -> RunStatus | None:
    names = storage.list_names(folder)
    starts = sorted(n for n in names if n.endswith(".json") and n.split(".")[0].isdigit()
                    and not n.endswith(".end.json"))  # fmt: skip
    if not starts:
        return None
    start = json.loads(storage.read_text(f"{folder}/{starts[-1]}"))
    run = RunStatus(started_ms=int(start["started_ms"]), once=bool(start.get("once")))
    end = starts[-1].replace(".json", ".end.json")
    if end in names:
        ended = json.loads(storage.read_text(f"{folder}/{end}"))
        run.ended_ms = int(ended["ended_ms"])
        run.outcome = str(ended["outcome"])
        run.errors = [str(e) for e in ended.get("errors", [])]
    return run


# ------------------------------------------------------------------ the table


def _table(
    spark: SparkSession,
    config: JobConfig,
    name: str,
    *,
    query: str,
    documents: list[dict[str, Any]],
    now_ms: int,
) -> TableStatus:
    table = TableStatus(name=name, query=query)
    if documents:
        newest = documents[-1]
        totals: Mapping[str, Any] = newest["totals"].get(name, {})
        table.applied = int(totals.get("applied", 0))
        table.quarantined = int(totals.get("quarantined", 0))
        table.stale = int(totals.get("stale", 0))
        table.last_batch_id = totals.get("last_batch_id")
        table.last_batch_ms = totals.get("last_at_ms")
        table.rows = totals.get("rows_in_table")
        table.stopped = newest.get("stopped", {}).get(name)
        table.applied_last_hour, table.quarantined_last_hour = window_counts(
            documents, name, now_ms
        )
    try:
        rows, tombstones = target_counts(spark, config, name, history=_history(config, name))
    except Exception as exc:  # any engine's error: shown, not a traceback
        table.error = f"target unreadable: {_first_line(exc)}"
        return table
    table.rows = table.rows if rows is None else rows
    table.tombstones = tombstones
    return table


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def _history(config: JobConfig, name: str) -> bool:
    table = next((t for t in config.explicit_tables if t.name == name), None)
    return isinstance(table, TableConfig) and table.scd_type == 2

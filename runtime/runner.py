"""Run a job: resolve its tables, start one streaming query per source, stop cleanly.

A source is read by one query whatever the number of tables: one per Kafka topic pattern,
per Kinesis stream, per landing root (and per table with a landing folder of its own).
Each batch is routed to its tables and applied by the target in one go
(runtime/batch.py). The checkpoint belongs to the source (runtime/checkpoints.py).
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from config import JobConfig, KafkaSource, KinesisSource, RedshiftTarget, TableConfig
from config.tables import TablePattern
from runtime.batch import SourceBatch, SourceBatchHandler
from runtime.checkpoints import refuse_per_table_checkpoints, source_checkpoint
from runtime.decoding import SourceFormat
from runtime.errors import reason
from runtime.export import MetricsExport
from runtime.journal import BatchRecord, RunRecord
from runtime.listener import BatchLog
from runtime.metrics import TableSummary, log
from runtime.tables import Registry, Replica, catalog_of
from runtime.validate import check_expressions
from sinks.base import Engine
from sinks.factory import make_engine, make_engines
from sinks.redshift.batch import WarehouseBatch
from sinks.redshift.dialect import Column
from sinks.redshift.engine import WarehouseEngine
from sinks.storage import Storage
from sinks.target import EachTable, Target
from sources.files import landing_path, read_landing
from sources.kafka import kafka_topic, quiet_partitions, read_kafka, topic_pattern
from sources.kinesis import read_kinesis
from transforms.canonical import output_types

__all__ = ["Run", "run", "target_of"]

_STOP_WAIT_S = 600
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


@dataclass
class Run:
    """The outcome of a run, for the summary."""

    tables: list[TableSummary]
    duration_s: float
    stopped_by_user: bool = False
    errors: list[str] = field(default_factory=list)
    other_tables: int = 0  # records of tables that are not replicated
    unrouted: int = 0  # records that belong to no table (quarantined)


@dataclass
class _Query:
    name: str
    checkpoint: str
    stream: DataFrame
    source: SourceFormat


class _Job:
    """What the queries of a run share: the tables, their engines, the summaries."""

    def __init__(self, spark: SparkSession, config: JobConfig, registry: Registry) -> None:
        self.spark = spark
        self.config = config
        self.registry = registry
        self.engines: dict[str, Engine] = {}
        self.summaries: dict[str, TableSummary] = {}
        self.lock = threading.Lock()
        self.other_tables = 0
        self.unrouted = 0

    def start(self, replicas: list[Replica], notes: dict[str, str]) -> None:
        """Every table known at start, its target tables created where needed up front."""
        tables = [r.config for r in replicas]
        types = {t.name: output_types(self.spark, t) for t in tables}
        self.engines.update(make_engines(self.spark, self.config, tables, types))
        for replica in replicas:
            engine = self.engines[replica.name]
            engine.recover()
            self.summaries[replica.name] = TableSummary(
                replica.name, engine.location, notes.get(replica.name)
            )

    def engine(self, replica: Replica) -> Engine:
        """The table's engine; a table discovered while running gets one now."""
        with self.lock:
            engine = self.engines.get(replica.name)
            if engine is None:
                check_expressions(self.spark, replica.where, replica.config)
                engine = make_engine(self.spark, self.config, replica.config)
                if isinstance(engine, WarehouseEngine):
                    types = output_types(self.spark, replica.config)
                    engine.ensure_tables([Column(n, t) for n, t in types.items()])
                engine.recover()
                self.engines[replica.name] = engine
                self.summaries[replica.name] = TableSummary(replica.name, engine.location)
            return engine

    def record(
        self, query: str, batch: SourceBatch, *, log_: BatchLog, journal: BatchRecord
    ) -> None:
        with self.lock:
            self.other_tables += batch.other_tables
            self.unrouted += batch.unrouted
            for metrics in batch.tables:
                if metrics.table in self.summaries:
                    self.summaries[metrics.table].add(metrics)
            stopped = {r.name: r.stopped for r in self.registry if r.stopped}
        journal.write(batch.batch_id, batch.tables, stopped, batch.unrouted)
        log_.sink_done(query, batch)


def run(spark: SparkSession, config: JobConfig, *, once: bool) -> Run:
    """Run every source's query; `once` processes what is available and returns.

    The run's start and end are recorded beside the checkpoint (runtime/journal.py): how
    it ended, with the one-line reason of a fatal error, is what `status` reports.
    """
    record = RunRecord(spark, config.checkpoint, once)
    record.started()
    try:
        outcome = _run(spark, config, once=once)
    except KeyboardInterrupt:
        record.ended("stopped", ["aborted by the user"])
        raise
    except BaseException as exc:
        record.ended("failed", [reason(exc)])
        raise
    state = "failed" if outcome.errors else "stopped" if outcome.stopped_by_user else "ok"
    record.ended(state, outcome.errors)
    return outcome


def _run(spark: SparkSession, config: JobConfig, *, once: bool) -> Run:
    started = time.monotonic()
    key = config.tokenization()
    registry = Registry(config, catalog_of(config), SourceFormat(config.source).encode)
    replicas = registry.start()
    for replica in replicas:
        check_expressions(spark, replica.where, replica.config)
    refuse_per_table_checkpoints(spark, config, [r.name for r in replicas])
    job = _Job(spark, config, registry)
    job.start(replicas, _starting_notes(spark, config, replicas))
    target = target_of(config)
    export = MetricsExport(config)
    stop = threading.Event()
    previous = _install_stop_handler(stop)
    queries: list[StreamingQuery] = []
    batch_log = BatchLog(export.observe)
    spark.streams.addListener(batch_log)
    try:
        for query in _queries(spark, config, replicas):
            handler = SourceBatchHandler(
                spark,
                source=query.source,
                registry=registry,
                engines=job.engine,
                target=target,
                quarantine=config.quarantine.path,
                checkpoint=query.checkpoint,
                tokens=key,
                parallel=config.parallel_tables,
                on_batch=functools.partial(
                    job.record,
                    query.name,
                    log_=batch_log,
                    journal=BatchRecord(spark, config.checkpoint, _folder(query.checkpoint)),
                ),
            )
            queries.append(_start(config, query, handler, once=once))
        errors = _wait(queries, stop)
    finally:
        signal.signal(signal.SIGINT, previous)
        batch_log.flush()
        stopped = [str(q.id) for q in queries if not q.isActive]
        batch_log.wait_terminated(stopped)
        spark.streams.removeListener(batch_log)
        export.close()
    summaries = sorted(job.summaries.values(), key=lambda s: s.table)
    return Run(
        summaries,
        time.monotonic() - started,
        stop.is_set(),
        errors,
        other_tables=job.other_tables,
        unrouted=job.unrouted,
    )


def _folder(checkpoint: str) -> str:
    """A query's checkpoint folder name (`source`, `source-<table>`)."""
    return checkpoint.rstrip("/").rsplit("/", 1)[-1]


def target_of(config: JobConfig) -> Target:
    """How the target applies a batch of several tables (sinks/target.py)."""
    if isinstance(config.target, RedshiftTarget):
        return WarehouseBatch(retry_s=config.target.retry_s, parallel=config.parallel_tables)
    return EachTable(parallel=config.parallel_tables)


def _queries(spark: SparkSession, config: JobConfig, replicas: list[Replica]) -> list[_Query]:
    """One query per source; for landing files, one per root (the source's, and the
    folder of any table that has its own)."""
    source, name = config.source, config.name
    if isinstance(source, KafkaSource):
        include = [p for t in config.tables if isinstance(t, TablePattern) for p in t.include]
        pattern = topic_pattern(source, [r.config for r in replicas], include)
        stream = read_kafka(spark, source, pattern)
        return [_Query(f"{name}.source", source_checkpoint(config), stream, SourceFormat(source))]
    if isinstance(source, KinesisSource):
        stream = read_kinesis(spark, source, config.aws)
        return [_Query(f"{name}.source", source_checkpoint(config), stream, SourceFormat(source))]
    root = Storage(spark, source.path).root if _exists(spark, source.path) else source.path
    _require_folder(spark, source.path, "source.path")
    queries = [
        _Query(
            f"{name}.source",
            source_checkpoint(config),
            read_landing(spark, source, root),
            SourceFormat(source, root=root),
        )
    ]
    # Explicit entries, resolved or not yet (DMS Parquet files describe theirs).
    for index, entry in enumerate(config.tables):
        if isinstance(entry, TableConfig) and entry.path:
            folder = landing_path(source, entry)
            _require_folder(spark, folder, f"tables.{index}.path")
            queries.append(
                _Query(
                    f"{name}.source-{entry.name}",
                    source_checkpoint(config, entry.name),
                    read_landing(spark, source, folder),
                    SourceFormat(source, table=(entry.source_schema, entry.source_name)),
                )
            )
    return queries


def _exists(spark: SparkSession, path: str) -> bool:
    return Storage(spark, path).exists(path)


def _require_folder(spark: SparkSession, path: str, key: str) -> None:
    if not _exists(spark, path):
        raise FileNotFoundError(f"{key}: landing folder {path} does not exist")


def _start(
    config: JobConfig, query: _Query, handler: SourceBatchHandler, *, once: bool
) -> StreamingQuery:
    writer = (
        query.stream.writeStream.queryName(query.name)
        .option("checkpointLocation", query.checkpoint)
        .foreachBatch(handler)
    )
    if once and isinstance(config.source, KinesisSource):
        # The Kinesis connectors learn where a batch ended only by running it, so they
        # cannot plan "everything available" ahead: one batch reads what is there.
        writer = writer.trigger(once=True)
    elif once:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=config.trigger_interval)
    return writer.start()


def _starting_notes(
    spark: SparkSession, config: JobConfig, replicas: list[Replica]
) -> dict[str, str]:
    """Why a table starts at the end of its topic: reprocessing from a time after its last
    change (Kafka; a Kinesis shard or a landing folder needs no special start)."""
    source = config.source
    if not isinstance(source, KafkaSource) or source.starting_timestamp is None:
        return {}
    offsets = f"{source_checkpoint(config)}/offsets"
    if Storage(spark, offsets).list_names(offsets):
        return {}  # the checkpoint decides where each partition starts
    topics = {kafka_topic(source, r.config): r.name for r in replicas}
    quiet = quiet_partitions(spark, source, list(topics))
    since = source.starting_timestamp.isoformat()
    notes = {}
    for topic, partitions in quiet.items():
        notes[topics[topic]] = (
            f"no change at or after {since} in partition(s) "
            f"{', '.join(map(str, partitions))} of {topic}: starts there at the end"
        )
        log.info("table %s: %s", topics[topic], notes[topics[topic]])
    return notes


def _wait(queries: list[StreamingQuery], stop: threading.Event) -> list[str]:
    """Wait until every query ends, or the user asks to stop (then finish the batch)."""
    errors: list[str] = []
    active = list(queries)
    while active:
        for query in list(active):
            if not query.isActive:
                active.remove(query)
                exception = query.exception()
                if exception is not None:
                    errors.append(f"{query.name}: {reason(exception)}")
        if stop.is_set():
            for query in active:
                _stop_after_batch(query)
            break
        if errors:
            for query in active:
                query.stop()
            break
        if active:
            _await(active[0], 1)
    return errors


def _await(query: StreamingQuery, seconds: int) -> None:
    """Wait up to `seconds` for `query` to end; back as soon as it does (a fixed sleep of
    0.5 s added half of it to every `--once` run, on average). How it ended is read by
    the caller (`query.exception()`)."""
    with contextlib.suppress(StreamingQueryException):
        query.awaitTermination(seconds)


def _stop_after_batch(query: StreamingQuery) -> None:
    deadline = time.monotonic() + _STOP_WAIT_S
    while query.isActive and query.status["isTriggerActive"] and time.monotonic() < deadline:
        time.sleep(0.2)
    query.stop()


def _install_stop_handler(stop: threading.Event) -> _Handler:
    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.warning("stop requested: finishing the current batch (Ctrl-C again to abort)")
        stop.set()

    return signal.signal(signal.SIGINT, handler)

"""Start one streaming query per table and stop them cleanly."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from config import JobConfig, KafkaSource, KinesisSource, TableConfig
from runtime.batch import TableBatchHandler
from runtime.listener import BatchLog
from runtime.metrics import BatchMetrics, TableSummary, log
from sinks.base import Engine
from sinks.factory import make_engines
from sinks.storage import Storage
from sources.files import landing_path, read_landing_files
from sources.kafka import kafka_topic, quiet_partitions, read_kafka
from sources.kinesis import read_kinesis
from transforms.canonical import output_types

_STOP_WAIT_S = 600
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


@dataclass
class Run:
    """The outcome of a run, for the summary."""

    tables: list[TableSummary]
    duration_s: float
    stopped_by_user: bool = False
    errors: list[str] = field(default_factory=list)


def run(spark: SparkSession, config: JobConfig, *, once: bool) -> Run:
    """Run every table's query; `once` processes what is available and returns."""
    started = time.monotonic()
    stop = threading.Event()
    previous = _install_stop_handler(stop)
    summaries: list[TableSummary] = []
    queries: list[StreamingQuery] = []
    lock = threading.Lock()
    key = config.tokenization_key()
    batch_log = BatchLog()
    spark.streams.addListener(batch_log)
    try:
        types = {t.name: output_types(spark, t) for t in config.tables}
        engines = make_engines(spark, config, types)
        notes = _starting_notes(spark, config)
        for table in config.tables:
            engine = engines[table.name]
            engine.recover()
            summary = TableSummary(table.name, engine.location, notes.get(table.name))
            summaries.append(summary)

            def record(
                metrics: BatchMetrics,
                summary: TableSummary = summary,
                query: str = query_name(config, table),
            ) -> None:
                with lock:
                    summary.add(metrics)
                batch_log.sink_done(query, metrics)

            queries.append(_start(spark, config, table, engine, record, key=key, once=once))
        errors = _wait(queries, stop)
    finally:
        signal.signal(signal.SIGINT, previous)
        batch_log.flush()
        spark.streams.removeListener(batch_log)
    return Run(summaries, time.monotonic() - started, stop.is_set(), errors)


def _start(
    spark: SparkSession,
    config: JobConfig,
    table: TableConfig,
    engine: Engine,
    record: Callable[[BatchMetrics], None],
    *,
    key: str | None,
    once: bool,
) -> StreamingQuery:
    stream = _read(spark, config, table)
    checkpoint = f"{config.checkpoint.rstrip('/')}/{table.name}"
    handler = TableBatchHandler(
        spark,
        source=config.source,
        table=table,
        engine=engine,
        quarantine=config.quarantine.path,
        checkpoint=checkpoint,
        on_batch=record,
        hmac_key=key,
    )
    writer = (
        stream.writeStream.queryName(query_name(config, table))
        .option("checkpointLocation", checkpoint)
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


def query_name(config: JobConfig, table: TableConfig) -> str:
    return f"{config.name}.{table.name}"


def _read(spark: SparkSession, config: JobConfig, table: TableConfig) -> DataFrame:
    source = config.source
    if isinstance(source, KafkaSource):
        return read_kafka(spark, source, table)
    if isinstance(source, KinesisSource):
        return read_kinesis(spark, source, config.aws)
    path = landing_path(source, table)
    if not Storage(spark, path).exists(path):
        raise FileNotFoundError(
            f"tables[{table.name}]: landing folder {path} does not exist "
            "(set source.path or the table's path)"
        )
    return read_landing_files(spark, source, table)


def _starting_notes(spark: SparkSession, config: JobConfig) -> dict[str, str]:
    """Why a table starts at the end of its topic: reprocessing from a time after its last
    change (Kafka; a Kinesis shard or a landing folder needs no special start)."""
    source = config.source
    if not isinstance(source, KafkaSource) or source.starting_timestamp is None:
        return {}
    new = [t for t in config.tables if not _has_checkpoint(spark, config, t)]
    topics = {kafka_topic(source, t): t.name for t in new}
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


def _has_checkpoint(spark: SparkSession, config: JobConfig, table: TableConfig) -> bool:
    offsets = f"{config.checkpoint.rstrip('/')}/{table.name}/offsets"
    return bool(Storage(spark, offsets).list_names(offsets))


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
                    errors.append(f"{query.name}: {_first_line(exception)}")
        if stop.is_set():
            for query in active:
                _stop_after_batch(query)
            break
        if errors:
            for query in active:
                query.stop()
            break
        time.sleep(0.5)
    return errors


def _stop_after_batch(query: StreamingQuery) -> None:
    deadline = time.monotonic() + _STOP_WAIT_S
    while query.isActive and query.status["isTriggerActive"] and time.monotonic() < deadline:
        time.sleep(0.2)
    query.stop()


def _first_line(exception: BaseException) -> str:
    text = str(exception).strip()
    return text.splitlines()[0] if text else type(exception).__name__


def _install_stop_handler(stop: threading.Event) -> _Handler:
    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.warning("stop requested: finishing the current batch (Ctrl-C again to abort)")
        stop.set()

    return signal.signal(signal.SIGINT, handler)

"""Start one streaming query per table and stop them cleanly."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from config.models import (
    JobConfig,
    KafkaSource,
    KinesisSource,
    LakeTarget,
    TableConfig,
    TableFilesTarget,
)
from runtime.aws import client
from runtime.batch import TableBatchHandler
from runtime.listener import BatchLog
from runtime.metrics import BatchMetrics, TableSummary, log
from sinks.base import Engine
from sinks.catalog import GlueTable
from sinks.delta import DeltaEngine
from sinks.delta.history import DeltaHistoryEngine
from sinks.lake import LakeEngine
from sinks.redshift import WarehouseEngine
from sinks.redshift.denormalize import Denormalized
from sinks.redshift.dialect import Column
from sinks.storage import Storage
from sources.files import landing_path, read_landing_files
from sources.kafka import read_kafka
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


def make_engines(spark: SparkSession, config: JobConfig) -> dict[str, Engine]:
    """Every table's engine, its tables created where the target needs them up front.

    A warehouse creates all replicated and denormalized tables before any query
    starts: a refresh joins tables that other queries may not have written yet.
    """
    if isinstance(config.target, TableFilesTarget):
        return {t.name: make_engine(spark, config, t) for t in config.tables}
    types = {t.name: output_types(spark, t) for t in config.tables}
    keys = {t.name: t.keys for t in config.tables}
    resolved = {d.name: Denormalized.resolve(d, keys, types) for d in config.denormalize}
    engines: dict[str, Engine] = {}
    for table in config.tables:
        feeds = [resolved[d.name] for d in config.denormalized_by(table.name)]
        engine = make_engine(spark, config, table, feeds)
        assert isinstance(engine, WarehouseEngine)
        engine.ensure_tables([Column(n, t) for n, t in types[table.name].items()])
        engines[table.name] = engine
    return engines


def make_engine(
    spark: SparkSession,
    config: JobConfig,
    table: TableConfig,
    denormalized: Sequence[Denormalized] = (),
) -> Engine:
    """The target's engine for one table: the only place that knows the kinds of target."""
    target = config.target
    if isinstance(target, TableFilesTarget):
        files_engine: type[LakeEngine | DeltaEngine | DeltaHistoryEngine] = DeltaEngine
        if isinstance(target, LakeTarget):
            files_engine = LakeEngine
        elif table.scd_type == 2:
            files_engine = DeltaHistoryEngine
        return files_engine(
            spark,
            target.table_path(table.name),
            keys=table.keys,
            partition_by=table.partition_by,
            state_dir=target.state_dir,
            max_records_per_file=target.max_records_per_file,
            catalog=_catalog(config, target, table),
        )
    return WarehouseEngine.for_target(
        target,
        config.aws,
        table=table.name,
        keys=table.keys,
        denormalized=denormalized,
        scd_type=table.scd_type,
    )


def _catalog(config: JobConfig, target: TableFilesTarget, table: TableConfig) -> GlueTable | None:
    """The table's Glue Data Catalog entry, when the target registers its tables."""
    if target.catalog is None:
        return None
    return GlueTable(
        client(config.aws, "glue"),
        database=target.catalog.database,
        table=table.name,
        location=target.table_path(table.name),
    )


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
        engines = make_engines(spark, config)
        for table in config.tables:
            engine = engines[table.name]
            engine.recover()
            summary = TableSummary(table.name, engine.location)
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

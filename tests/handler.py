"""The job's batch handler of one source, built in process as the runner builds it, for
tests that feed it batches shaped as the source's reader gives them (no broker, no
stream): the tables resolved, their engines made and recovered (a table the records
describe gets its engine at its first batch), the source's checkpoint metadata written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import SparkSession

from config import JobConfig
from runtime.batch import SourceBatch, SourceBatchHandler
from runtime.decoding import SourceFormat
from runtime.runner import target_of
from runtime.tables import Registry, Replica, catalog_of
from sinks.base import Engine
from sinks.factory import make_engine, make_engines
from transforms.canonical import output_types


def source_handler(
    spark: SparkSession,
    config: JobConfig,
    tmp_path: Path,
    on_batch: Callable[[SourceBatch], None] = lambda _: None,
    root: str | None = None,
) -> SourceBatchHandler:
    """`root`: a files source's landing root, by which its records are routed."""
    source = SourceFormat(config.source, root)
    registry = Registry(config, catalog_of(config), source.encode)
    tables = [r.config for r in registry.start()]
    types = {t.name: output_types(spark, t) for t in tables}
    engines = make_engines(spark, config, tables, types)
    for engine in engines.values():
        engine.recover()

    def engine_of(replica: Replica) -> Engine:
        if replica.name not in engines:
            engines[replica.name] = make_engine(spark, config, replica.config)
            engines[replica.name].recover()
        return engines[replica.name]

    checkpoint = tmp_path / "checkpoint" / "source"
    checkpoint.mkdir(parents=True)
    (checkpoint / "metadata").write_text(json.dumps({"id": "stream-writer"}))
    return SourceBatchHandler(
        spark,
        source=source,
        registry=registry,
        engines=engine_of,
        target=target_of(config),
        quarantine=config.quarantine.path,
        checkpoint=str(checkpoint),
        tokens=None,
        on_batch=on_batch,
    )

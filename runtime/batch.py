"""What happens to one micro-batch of one table (the foreachBatch function)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config import FilesSource, KafkaSource, KinesisSource, TableConfig
from runtime.metrics import BatchMetrics, log
from sinks.base import Engine
from sinks.quarantine import write_quarantine
from sinks.storage import Storage
from transforms.canonical import canonical_changes, split_rejected, typed_records
from transforms.names import COMMIT_TS, ERROR, OP, OP_DDL, SKIPPED_OPS


class TableBatchHandler:
    """Decode, quarantine, transform and apply one batch; hand its metrics to `on_batch`."""

    def __init__(
        self,
        spark: SparkSession,
        *,
        source: FilesSource | KafkaSource | KinesisSource,
        table: TableConfig,
        engine: Engine,
        quarantine: str,
        checkpoint: str,
        hmac_key: str | None = None,
        on_batch: Callable[[BatchMetrics], None],
    ) -> None:
        self._spark = spark
        self._source = source
        self._table = table
        self._engine = engine
        self._quarantine = quarantine
        self._checkpoint = checkpoint
        self._on_batch = on_batch
        self._writer_id: str | None = None
        self._hmac_key = hmac_key

    def writer_id(self) -> str:
        """The query id kept in the checkpoint: a new checkpoint is a new writer."""
        if self._writer_id is None:
            metadata = Storage(self._spark, self._checkpoint).read_text(
                f"{self._checkpoint.rstrip('/')}/metadata"
            )
            self._writer_id = str(json.loads(metadata)["id"])
        return self._writer_id

    def __call__(self, raw: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        # Positions come from monotonically_increasing_id: compute them exactly once.
        records = raw.transform(typed_records(self._source, self._table)).persist(
            StorageLevel.MEMORY_AND_DISK
        )
        try:
            by_op = records.groupBy(OP, F.col(ERROR).isNull().alias("ok")).count().collect()
            read = {str(r[OP]): 0 for r in by_op if r["ok"] and r[OP] not in SKIPPED_OPS}
            quarantined = skipped = ddl = 0
            for r in by_op:
                if not r["ok"]:
                    quarantined += int(r["count"])
                elif r[OP] in SKIPPED_OPS:
                    skipped += int(r["count"])
                    ddl += int(r["count"]) if r[OP] == OP_DDL else 0
                else:
                    read[str(r[OP])] += int(r["count"])
            if ddl:
                log.warning(
                    "table %s batch %d: %d table-alter record(s) from the source: its schema "
                    "changed; declare new columns in tables[].columns to load them",
                    self._table.name,
                    batch_id,
                    ddl,
                )
            good, rejected = split_rejected(records)
            if quarantined:
                write_quarantine(rejected, self._quarantine, self._table.name, batch_id)
            changes = good.transform(canonical_changes(self._table, self._hmac_key))
            span = changes.agg(F.min(COMMIT_TS), F.max(COMMIT_TS)).first() if read else None
            result = self._engine.apply(changes, batch_id, self.writer_id())
        finally:
            records.unpersist()
        visible = time.time()
        oldest, newest = (None, None) if span is None else (span[0], span[1])
        metrics = BatchMetrics(
            table=self._table.name,
            batch_id=batch_id,
            read_by_op=read,
            quarantined=quarantined,
            skipped=skipped,
            ddl=ddl,
            result=result,
            duration_s=time.monotonic() - started,
            max_latency_s=None if oldest is None else visible - oldest.timestamp(),
            min_latency_s=None if newest is None else visible - newest.timestamp(),
        )
        self._on_batch(metrics)

"""What happens to one micro-batch of one source (the foreachBatch function).

The batch is read once and routed to its tables (transforms/route.py); then, for each
table it touches:
1. resolve the table (a table created after the start is discovered here) and follow its
   schema when the batch brings fields the job has not seen (runtime/tables.py);
2. decode and type its records, count them (one Spark job for every table of the batch,
   the same job as the routing's for the tables the last batch touched:
   runtime/routing.py), quarantine the rejects;
3. derive its canonical changes;
and the target applies every table's changes of the batch together (sinks/target.py).
Records of tables that are not replicated are counted and skipped; records that belong
to no table, and records of a stopped table, are quarantined with the reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from config import Tokenization
from runtime.decoding import SourceFormat
from runtime.metrics import BatchMetrics, JobCount, Phases, log
from runtime.routing import (
    Guess,
    merge_seen,
    newest_file,
    newest_message,
    route_and_tally,
    tallied_rows,
    tally_records,
)
from runtime.shared import SharedDecoding
from runtime.sizing import ROWS_PER_TASK, compact, shuffle_partitions
from runtime.tables import Registry, Replica
from sinks.base import BatchResult, Engine, TextChanges
from sinks.parallel import in_parallel
from sinks.quarantine import write_quarantine
from sinks.storage import Storage
from sinks.target import Target
from transforms.canonical import canonical_changes, origin_of_rejects_only, split_rejected
from transforms.names import (
    ERROR,
    OP,
    OP_DDL,
    REPLICA,
    SKIPPED_OPS,
    SOURCE_SCHEMA,
    SOURCE_TABLE,
)
from transforms.route import UNROUTED

__all__ = ["SourceBatch", "SourceBatchHandler"]

SHUFFLE = "spark.sql.shuffle.partitions"

_RESUME = (
    "to resume, make the target table fit (or declare the table's columns in tables[]) and "
    "restart the job: it takes the table as the source has it then (the records quarantined "
    "meanwhile hold the changes made until then)"
)


@dataclass
class SourceBatch:
    """What one batch did at the source level (tables have their own metrics)."""

    batch_id: int
    other_tables: int = 0  # records of tables that are not replicated: skipped
    unrouted: int = 0  # records that belong to no table: quarantined
    tables: list[BatchMetrics] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # of its phases, in seconds
    spark_jobs: int | None = None  # the Spark jobs it ran (None: not counted)

    def fields(self) -> dict[str, object]:
        """The whole source batch's Spark jobs and phases, for its log lines: finding its
        tables (`route_s`), decoding and counting their records (`decode_s`), writing the
        rejects (`quarantine_s`), the target's apply of every table (`apply_s`)."""
        return {
            "spark_jobs": self.spark_jobs,
            **{name: round(seconds, 3) for name, seconds in self.timings.items()},
        }


@dataclass
class _Table:
    """One table's part of a batch, decoded."""

    replica: Replica
    records: DataFrame  # typed records, persisted (shared: every shared table's, as text)
    read: dict[str, int]
    quarantined: int
    skipped: int
    ddl: int
    span: tuple[object, object]
    shared: bool = False  # decoded by the one program of plain tables (runtime/shared.py)


class SourceBatchHandler:
    """Route, decode, quarantine, transform and apply one batch of one source."""

    def __init__(
        self,
        spark: SparkSession,
        *,
        source: SourceFormat,
        registry: Registry,
        engines: Callable[[Replica], Engine],
        target: Target,
        quarantine: str,
        checkpoint: str,
        tokens: Tokenization | None,
        on_batch: Callable[[SourceBatch], None],
        parallel: int = 4,
    ) -> None:
        self._spark = spark
        self._source = source
        self._registry = registry
        self._engines = engines
        self._target = target
        self._quarantine = quarantine
        self._checkpoint = checkpoint
        self._tokens = tokens
        self._on_batch = on_batch
        self._parallel = parallel
        self._writer_id: str | None = None
        self._recent: list[Replica] = []  # the last batch's tables, each in one task
        self._shared = SharedDecoding(source)

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
        jobs = JobCount(self._spark.sparkContext)
        summary = SourceBatch(batch_id)
        phase = Phases(summary.timings)
        conf = raw.sparkSession.conf  # the stream's own session: its batches' settings
        setting = int(str(self._spark.conf.get(SHUFFLE)))  # the session it was cloned from
        # Routing in the setting's partitions: in one, a 500,000-message Kafka snapshot ran
        # out of a 1 GB driver's heap (3 runs of 3; docs/benchmarks.md).
        conf.set(SHUFFLE, str(setting))
        routed = raw.transform(self._source.route).persist(StorageLevel.MEMORY_AND_DISK)
        records: dict[str, DataFrame] = {}
        guessed: dict[str, Guess] = {}
        decoded: list[_Table] = []
        try:
            with phase("route_s"):
                guessed = self._guess(routed)
                found, tallies = route_and_tally(
                    self._seen(routed),
                    {name: g.records for name, g in guessed.items()},
                    self._parallel,
                    self._shared.ahead(routed, self._shares),
                )
                seen = self._tables(found, routed, summary)
                tables = {r.name: r for r, _ in seen}
            self._recent = [r for r, n in seen if n <= ROWS_PER_TASK and not self._shares(r)]
            cores = self._spark.sparkContext.defaultParallelism
            rows = sum(n for _, n in seen)
            conf.set(SHUFFLE, str(shuffle_partitions(rows, cores, setting)))
            with phase("decode_s"):
                tallies = self._decode(routed, seen, guessed, tallies, records)
            if self._source.reads_files:  # the routing counted files; the tally, rows
                conf.set(SHUFFLE, str(shuffle_partitions(tallied_rows(tallies), cores, setting)))
            with phase("quarantine_s"):
                decoded = list(
                    in_parallel(
                        tables,
                        lambda r: self._decoded(r, records, tallies.get(r.name, []), batch_id),
                        self._parallel,
                    ).values()
                )
            batch = {
                t.replica.name: (self._engines(t.replica), self._changes(t))
                for t in decoded
                if t.replica.stopped is None
            }
            with phase("apply_s"):
                results = self._target.apply(batch, batch_id, self.writer_id()) if batch else {}
        finally:
            for frame in [*records.values(), *(g.records for g in guessed.values())]:
                frame.unpersist()
            self._shared.release()
            routed.unpersist()
        visible = time.time()
        summary.timings["total_s"] = time.monotonic() - started
        summary.spark_jobs = jobs.since()
        for table in decoded:
            result = results.get(table.replica.name, BatchResult(batch_id=batch_id))
            summary.tables.append(_metrics(table, result, batch_id, started, visible))
        self._on_batch(summary)

    # ----------------------------------------------------------------- steps

    def _guess(self, routed: DataFrame) -> dict[str, Guess]:
        """The last batch's tables, their records of this batch decoded ahead, so that
        their counts come with the routing's job (runtime/routing.py). None for DMS
        Parquet files, whose decoding lists the batch's files first."""
        if self._source.reads_files:
            return {}
        return in_parallel(
            {r.name: r for r in self._recent},
            lambda r: Guess(r.config, r.columns, r.stopped, self._records(routed, r, 1)),
            self._parallel,
        )

    def _seen(self, routed: DataFrame) -> DataFrame:
        """The routing aggregate: records and fields seen per source table (and the newest
        message per Kafka partition, or the newest file, when they describe the table)."""
        described = self._registry.from_records
        by = [SOURCE_SCHEMA, SOURCE_TABLE, *(["partition"] if described else [])]
        return routed.groupBy(*by).agg(
            F.count(F.lit(1)).alias("n"),
            self._source.fields_seen().alias("fields"),
            *(newest_message() if described else ()),
            *([newest_file()] if self._registry.from_files else []),
        )

    def _tables(
        self, found: list[Row], routed: DataFrame, summary: SourceBatch
    ) -> list[tuple[Replica, int]]:
        """The replicated tables the batch touches (`found`: the routing aggregate's rows),
        with their record counts; the rest counted (and the unrouted quarantined)."""
        files = self._registry.from_files
        merged = merge_seen(found, described=self._registry.from_records, files=files)
        tables = []
        for (schema, table), table_seen in merged.items():
            count = table_seen.count
            if table is not None and table_seen.messages:
                self._registry.offer(schema or "", table, table_seen.messages)
            if table is not None and table_seen.newest_file:
                self._registry.offer_file(schema or "", table, table_seen.newest_file)
            if table is None:
                summary.unrouted += count
                rejected = routed.where(F.col(SOURCE_TABLE).isNull()).transform(
                    self._source.unrouted
                )
                write_quarantine(rejected, self._quarantine, UNROUTED, summary.batch_id)
                continue
            replica = self._registry.find(schema or "", table)
            if replica is None:
                summary.other_tables += count
                continue
            self._follow(replica, table_seen.fields)
            tables.append((replica, count))
        return tables

    def _follow(self, replica: Replica, fields: set[str]) -> None:
        """Ask the catalog again when the records name fields the table does not have
        (or lack some it has), or (DMS Parquet) whenever a file was offered, which costs
        no I/O: additive changes are followed, others stop the table."""
        known = {c.name for c in replica.columns}
        asked = self._registry.from_files or (fields and fields != known)
        if not replica.discovered or not asked:
            return
        change = self._registry.refresh(replica)
        if replica.stopped:
            log.error(
                "table %s stopped: %s; its records are quarantined until it is resumed",
                replica.name,
                replica.stopped,
            )
        elif not change.none:
            log.warning("table %s: the source's schema changed: %s", replica.name,
                        change.describe())  # fmt: skip

    def _decode(
        self,
        routed: DataFrame,
        seen: list[tuple[Replica, int]],
        guessed: dict[str, Guess],
        tallies: dict[str, list[Row]],
        records: dict[str, DataFrame],
    ) -> dict[str, list[Row]]:
        """Every table's decoded records into `records`, and their counts: a guessed
        table's as the routing's job counted them, unless the routing changed it; the
        others' counted in one more job. A guess the batch did not need is let go."""
        counted: dict[str, list[Row]] = {}
        todo: dict[str, tuple[Replica, int]] = {}
        for replica, count in seen:
            guess = guessed.pop(replica.name, None)
            if guess is not None and guess.holds(replica, count):
                records[replica.name] = guess.records
                counted[replica.name] = tallies.get(replica.name, [])
                continue
            if guess is not None:
                guess.records.unpersist()
            todo[replica.name] = (replica, count)
        for guess in guessed.values():
            guess.records.unpersist()
        guessed.clear()
        shared, plain = self._shared.decoded(
            routed, [r for r, _ in todo.values() if self._shares(r)]
        )
        records.update(shared)
        counted.update({n: tallies.get(n, []) for n, f in shared.items() if f is not plain})
        todo = {n: t for n, t in todo.items() if n not in records}
        # Each table's query is built by the driver (calls into the JVM, Spark's analysis
        # of each step): several tables at once keep both busy.
        records.update(in_parallel(todo, lambda t: self._records(routed, *t), self._parallel))
        apart = {n: records[n] for n in todo}
        counted.update(tally_records(apart, self._parallel, plain))
        return counted

    def _shares(self, replica: Replica) -> bool:
        """Whether the table is decoded by the one program of plain tables."""
        return self._shared.takes(replica) and self._target.stages_text(self._engines(replica))

    def _records(self, routed: DataFrame, replica: Replica, count: int) -> DataFrame:
        """The table's `count` records, decoded and typed, in as many partitions as they
        need (`compact`); persisted: counted, then applied."""
        schema, table = replica.source
        mine = (F.col(SOURCE_SCHEMA) == schema) & (F.col(SOURCE_TABLE) == table)
        records = routed.where(mine).transform(self._source.typed_records(replica))
        if replica.stopped is not None:
            reason = f"table {replica.name} stopped: {replica.stopped}; {_RESUME}"
            records = records.withColumn(ERROR, F.lit(reason))
        records = origin_of_rejects_only(records)
        if not self._source.reads_files:
            records = compact(records, count)
        # else: a scan of the table's own files, in as many partitions as their splits
        # (`count` is of files: compacted by it, a 1M-row load was decoded by one task)
        return records.persist(StorageLevel.MEMORY_AND_DISK)

    def _decoded(
        self, replica: Replica, decoded: dict[str, DataFrame], tally: list[Row], batch_id: int
    ) -> _Table:
        """The table's counts (from `tally_records`), its rejects written to the quarantine."""
        records = decoded[replica.name]
        shared = REPLICA in records.columns
        read: dict[str, int] = {}
        quarantined = skipped = ddl = 0
        lows, highs = [], []
        for row in tally:
            n = int(row["n"])
            if not row["ok"]:
                quarantined += n
            elif row[OP] in SKIPPED_OPS:
                skipped += n
                ddl += n if row[OP] == OP_DDL else 0
            else:
                read[str(row[OP])] = read.get(str(row[OP]), 0) + n
                lows += [row["lo"]] if row["lo"] is not None else []
                highs += [row["hi"]] if row["hi"] is not None else []
        if quarantined:
            mine = records.where(F.col(REPLICA) == replica.name) if shared else records
            write_quarantine(split_rejected(mine)[1], self._quarantine, replica.name, batch_id)
        span = (min(lows) if lows else None, max(highs) if highs else None)
        return _Table(replica, records, read, quarantined, skipped, ddl, span, shared)

    def _changes(self, table: _Table) -> DataFrame | TextChanges:
        config = table.replica.config
        if table.shared:
            types = {c.name: c.type for c in table.replica.columns}
            columns = tuple((c, types[c]) for c in config.output_columns)
            return TextChanges(table.records, table.replica.name, columns)
        good, _ = split_rejected(table.records)
        return good.transform(canonical_changes(config, self._tokens))


def _metrics(
    table: _Table, result: BatchResult, batch_id: int, started: float, visible: float
) -> BatchMetrics:
    oldest, newest = table.span
    return BatchMetrics(
        table=table.replica.name,
        batch_id=batch_id,
        read_by_op=table.read,
        quarantined=table.quarantined,
        skipped=table.skipped,
        ddl=table.ddl,
        result=result,
        duration_s=time.monotonic() - started,
        max_latency_s=None if oldest is None else visible - oldest.timestamp(),  # type: ignore[attr-defined]
        min_latency_s=None if newest is None else visible - newest.timestamp(),  # type: ignore[attr-defined]
    )

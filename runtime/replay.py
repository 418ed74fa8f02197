"""Replay quarantined records through the stream's own decode -> apply path.

Selection: the quarantine's entries (all, one table's, those whose reason contains a
text) or an operator's corrected file of entries, minus the entries an earlier replay
resolved (the ledger, sinks/quarantine.py). Each table's records are routed and decoded
by the source's `SourceFormat` (the code every batch uses), typed, turned into canonical
changes and applied by the table's engine, with the position they arrived with
(transforms/replay.py): the sequence guard keeps a replayed change from overwriting a
newer one, and counts it stale.

Idempotency, two ways: the replay is one batch (id 0) of a writer whose id is derived
from the selected input (`replay-<digest>`), which every engine already refuses to apply
twice (docs/design.md, rule 4), so a replay interrupted after its commit and run again
changes nothing; and its outcomes go to the ledger, so a later replay selects none of
the entries it resolved.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from config import FilesSource, JobConfig, KafkaSource, KinesisSource, RedshiftTarget
from runtime.decoding import SourceFormat
from runtime.replay_report import ReplayReport, TableReplay
from runtime.routing import newest_message
from runtime.runner import target_of
from runtime.tables import Registry, Replica, catalog_of
from sinks.base import BatchResult, Engine
from sinks.factory import make_engines
from sinks.quarantine import (
    ENTRY_SCHEMA,
    quarantined_tables,
    read_entries,
    read_ledger,
    write_ledger,
)
from sinks.storage import Storage
from transforms.canonical import canonical_changes, output_types, split_rejected
from transforms.frames import union_by_name
from transforms.names import FILE, OP, POS, SOURCE_FILE, SOURCE_SCHEMA, SOURCE_TABLE
from transforms.position import file_start_position
from transforms.replay import (
    REJECTED,
    RESOLVED,
    input_digest,
    kafka_messages,
    kinesis_records,
    latest_outcomes,
    mark_resolved,
    matching,
    outcomes,
    raw_records,
    replayed_position,
    with_entry_ids,
)
from transforms.route import by_topic

__all__ = ["ReplayError", "Selection", "replay"]

_CORRUPT = "_corrupt_record"
_PARQUET = (
    "source.format dms-parquet: replay cannot re-read these entries: the quarantine holds "
    "a JSON rendering of each rejected Parquet row (already typed by the reader), not the "
    "record as it arrived; correct the source and reprocess the landing files instead "
    "(docs/operations.md, Replaying quarantined records)"
)
Source = FilesSource | KafkaSource | KinesisSource


class ReplayError(Exception):
    """A selection or input that cannot be replayed: nothing was (exit 2)."""


@dataclass(frozen=True)
class Selection:
    """What to replay: the quarantine (optionally one table, a reason) or a file."""

    table: str | None = None
    reason: str | None = None  # a substring of the reason
    file: str | None = None  # corrected entries, JSON lines like the quarantine's


@dataclass
class _Part:
    """One table's decoded share of the replay."""

    report: TableReplay
    rows: DataFrame  # decoded rows with their entries, persisted
    changes: DataFrame | None  # canonical changes; None when the table is unknown
    outcomes: DataFrame
    replica: Replica | None


def replay(
    spark: SparkSession, config: JobConfig, selection: Selection, *, dry_run: bool = False
) -> ReplayReport:
    """Replay the selected entries; the report says what each table did."""
    source = config.source
    if source.format == "dms-parquet":
        raise ReplayError(_PARQUET)
    registry = Registry(config, catalog_of(config), SourceFormat(source).encode)
    replicas = {r.name: r for r in registry.start()}
    # Tables the records describe are known once their records are read (_described).
    if (
        selection.table is not None
        and selection.table not in replicas
        and not registry.from_records
    ):
        known = ", ".join(sorted(replicas))
        raise ReplayError(f"--table {selection.table}: not a table of the job ({known})")
    root = config.quarantine.path
    entries = _entries(spark, root, selection)
    marked = (
        entries.transform(with_entry_ids)
        .transform(mark_resolved(latest_outcomes(read_ledger(spark, root))))
        .transform(matching(selection.table, selection.reason))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    parts: dict[str, _Part] = {}
    try:
        counts = marked.groupBy("table", RESOLVED).count().collect()
        reports: dict[str, TableReplay] = {}
        for row in counts:
            report = reports.setdefault(row["table"], TableReplay(row["table"]))
            if row[RESOLVED]:
                report.already_replayed += int(row["count"])
            else:
                report.selected += int(row["count"])
        selected = marked.where(~F.col(RESOLVED))
        if registry.from_records and any(n not in replicas for n in reports):
            _described(registry, source, selected.where(~F.col("table").isin(*replicas)), replicas)
        replay_id = _replay_id(selected)
        for name, report in sorted(reports.items()):
            if report.selected:
                parts[name] = _decode(config, source, replicas.get(name), report, selected)
        if replay_id is not None and not dry_run:
            _apply(spark, config, list(replicas.values()), parts, replay_id)
            ledger = [p.outcomes for p in parts.values()]
            write_ledger(union_by_name(ledger), root, replay_id)
        return ReplayReport(config.name, replay_id, dry_run, [reports[n] for n in sorted(reports)])
    finally:
        for part in parts.values():
            part.rows.unpersist()
        marked.unpersist()


def _entries(spark: SparkSession, root: str, selection: Selection) -> DataFrame:
    if selection.file is None:
        tables = quarantined_tables(spark, root)
        if selection.table is not None:
            tables = [t for t in tables if t == selection.table]
        return read_entries(spark, root, tables)
    path = selection.file
    if not Storage(spark, path).exists(path):
        raise ReplayError(f"--file {path}: no such file")
    rows = (
        spark.read.schema(f"{ENTRY_SCHEMA}, {_CORRUPT} string")
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", _CORRUPT)
        .json(path)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    bad = rows.where(
        F.col(_CORRUPT).isNotNull() | F.col("table").isNull() | F.col("raw_record").isNull()
    ).count()
    if bad:
        raise ReplayError(
            f"--file {path}: {bad} line(s) are not quarantine entries (a JSON object with "
            "at least table and raw_record, one a line); nothing was replayed"
        )
    return rows.drop(_CORRUPT)


def _described(
    registry: Registry, source: Source, selected: DataFrame, replicas: dict[str, Replica]
) -> None:
    """Tables Debezium's records describe (no catalog, no declared columns): offered the
    newest selected message of each partition, as a batch offers them, then resolved."""
    assert isinstance(source, KafkaSource), "only Debezium records describe their table"
    messages = (
        selected.select(
            F.col("source_file").alias(FILE),
            F.col("raw_record").alias("value"),
            F.col("record_key").alias("key"),
            F.lit(None).cast("string").alias("position"),
        )
        .transform(kafka_messages)
        .withColumn("offset", F.col("offset").cast("long"))
        .transform(by_topic(source.topic_prefix))
        .where(F.col(SOURCE_TABLE).isNotNull())
        .groupBy(SOURCE_SCHEMA, SOURCE_TABLE, "partition")
        .agg(*newest_message())
    )
    offered: dict[tuple[str, str], list[tuple[str | None, str | None]]] = {}
    for row in messages.collect():
        where = (str(row[SOURCE_SCHEMA]), str(row[SOURCE_TABLE]))
        offered.setdefault(where, []).append((row["newest_value"], row["newest_key"]))
    for (schema, table), newest in sorted(offered.items()):
        registry.offer(schema, table, newest)
        replica = registry.find(schema, table)
        if replica is not None:
            replicas[replica.name] = replica


def _replay_id(selected: DataFrame) -> str | None:
    """`replay-<digest of the selected input>`; None when nothing is selected."""
    row = selected.transform(input_digest).first()
    if row is None or not row["n"]:
        return None
    text = "/".join(str(row[k]) for k in ("n", "s0", "s1", "s2"))
    return "replay-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _decode(
    config: JobConfig,
    source: Source,
    replica: Replica | None,
    report: TableReplay,
    selected: DataFrame,
) -> _Part:
    """One table's selected entries decoded by the source's own routing and decoder."""
    name = report.table
    records = selected.where(F.col("table") == name).transform(raw_records)
    if replica is None:  # an entry of a table this config does not replicate
        reason = f"table {name} is not a table of the job"
        rows = records.select("entries").persist(StorageLevel.MEMORY_AND_DISK)
        gone = rows.select(
            F.explode("entries").alias("entry"),
            F.lit(name).alias("table"),
            F.lit(REJECTED).alias("outcome"),
            F.lit(reason).alias("reason"),
        )
        report.rejected = {reason: report.selected}
        return _Part(report, rows, None, gone, None)
    fmt = SourceFormat(source, table=replica.source)  # routed as a table's own folder is
    shaped, fallback = _as_read(source, records)
    rows = (
        shaped.transform(fmt.route)
        .transform(fmt.typed_records(replica))
        .transform(replayed_position(shaped, fallback))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    decided = rows.transform(outcomes(name)).persist(StorageLevel.MEMORY_AND_DISK)
    for row in decided.where(F.col("outcome") == REJECTED).groupBy("reason").count().collect():
        report.rejected[str(row["reason"])] = int(row["count"])
    good, _ = split_rejected(rows)
    for row in good.groupBy(OP).count().collect():
        report.decoded[str(row[OP])] = int(row["count"])
    changes = good.transform(canonical_changes(replica.config, config.tokenization()))
    return _Part(report, rows, changes, decided, replica)


def _as_read(source: Source, records: DataFrame) -> tuple[DataFrame, Column]:
    """The raw rows in the shape the source's reader gives them, and the position of an
    entry that has none (transforms/replay.py)."""
    if isinstance(source, KafkaSource):  # the corrected event's binlog coordinates
        return records.transform(kafka_messages), F.col(POS)
    if isinstance(source, KinesisSource):
        return records.transform(kinesis_records), F.lit(None).cast("string")
    return records, file_start_position(F.col(SOURCE_FILE))


def _apply(
    spark: SparkSession,
    config: JobConfig,
    replicas: list[Replica],
    parts: Mapping[str, _Part],
    replay_id: str,
) -> None:
    """Every table's changes as one batch of the replay's writer; the reports filled in.

    The engines are made as the job makes them (the warehouse's for every table: its
    denormalized tables join them); only the replayed tables' are recovered and applied."""
    ready = {n: p for n, p in parts.items() if p.replica is not None and p.report.decoded}
    if not ready:
        return
    tables = [
        r.config for r in replicas if r.name in ready or isinstance(config.target, RedshiftTarget)
    ]
    types = {t.name: output_types(spark, t) for t in tables}
    engines: dict[str, Engine] = make_engines(spark, config, tables, types)
    for name in ready:
        engines[name].recover()
    batch = {n: (engines[n], p.changes) for n, p in ready.items() if p.changes is not None}
    results = target_of(config).apply(batch, 0, replay_id)
    for name, part in ready.items():
        _fill(part.report, results.get(name, BatchResult(batch_id=0)))


def _fill(report: TableReplay, result: BatchResult) -> None:
    if result.skipped:
        report.committed_before = True
        return
    decoded = sum(report.decoded.values())
    report.upserts, report.deletes = result.upserts, result.deletes
    # Changes of one key older than another replayed change never reach the guard.
    report.stale = result.stale + max(0, decoded - result.changes_in)

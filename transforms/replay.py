"""Quarantine entries back to raw records, and what a replay decided for each: the pure
half of a replay (runtime/replay.py reads, decodes with the stream's own code, applies).

An entry is named (`entry`) by a hash of its table, batch, source file and transport
position; entries quarantined before positions were kept are named by their raw record
instead. A corrected file keeps the names of the entries it corrects as long as the
operator edits `raw_record` only.

Ordering: a replayed record keeps the position it arrived with, so the engines' sequence
guard orders it exactly where it was in the stream; a change without a sequence value is
ordered by that position alone (transforms/ordering.py). An entry without a position gets
the start of its source file: after every change of the files before it, and before every
change of its own file, so a tie with what the target holds goes to the target (stale),
never to the replay. An entry without a source file either gets the lowest position of
all: it applies only to a key the target does not hold (or by a newer sequence value).

Streams: a raw record is given back the shape its reader gives (`kafka_messages`,
`kinesis_records`) from what the entry kept: a Kafka message's topic, partition and offset
(`source_file`) and key (`record_key`); a Kinesis record's stream and partition key
(`source_file`) and sequence number (its position). An entry of a stream without a
position gets the lowest position, as one without a source file does.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.dms_json import BEFORE_IMAGE
from transforms.names import (
    APPLIED_OPS,
    BLOCK,
    ERROR,
    FILE,
    KINESIS_POSITION,
    OP,
    OP_LOAD,
    POS,
    RAW,
    SEP,
    SOURCE_FILE,
)

__all__ = [
    "ENTRIES",
    "ENTRY",
    "GROUP",
    "REJECTED",
    "RESOLVED",
    "input_digest",
    "kafka_messages",
    "kinesis_records",
    "latest_outcomes",
    "mark_resolved",
    "matching",
    "outcomes",
    "raw_records",
    "replayed_position",
    "with_entry_ids",
]

ENTRY = "entry"
ENTRIES = "entries"  # the entries one raw record stands for (identical records of a file)
GROUP = "__record"  # names one (source file, raw record): the unit that is decoded
RESOLVED = "resolved"  # went through the target: applied, or stale there
REJECTED = "rejected"  # could not be decoded or typed (again)


def with_entry_ids(entries: DataFrame) -> DataFrame:
    """Quarantine entries -> the same, with `entry`."""
    where = F.coalesce(F.col("position"), F.concat(F.lit("raw:"), F.sha2(F.col("raw_record"), 256)))
    identity = F.concat_ws(
        SEP,
        F.col("table"),
        F.coalesce(F.col("batch_id").cast("string"), F.lit("")),
        F.coalesce(F.col("source_file"), F.lit("")),
        where,
    )
    return entries.withColumn(ENTRY, F.sha2(identity, 256))


def latest_outcomes(ledger: DataFrame) -> DataFrame:
    """Ledger rows -> one row an entry: `resolved` (by any replay) and its newest reason."""
    return ledger.groupBy(ENTRY).agg(
        F.max(F.col("outcome") == RESOLVED).alias(RESOLVED),
        F.max_by(F.col("reason"), F.col("replayed_at")).alias("__reason"),
    )


def mark_resolved(outcomes_: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """Entries -> the same with `resolved`, and the newest reason a replay gave them."""

    def transform(entries: DataFrame) -> DataFrame:
        return (
            entries.join(outcomes_, ENTRY, "left")
            .withColumn(RESOLVED, F.coalesce(F.col(RESOLVED), F.lit(False)))
            .withColumn("reason", F.coalesce(F.col("__reason"), F.col("reason")))
            .drop("__reason")
        )

    return transform


def matching(table: str | None, reason: str | None) -> Callable[[DataFrame], DataFrame]:
    """The entries of `table` whose reason contains `reason` (each when given)."""

    def transform(entries: DataFrame) -> DataFrame:
        if table is not None:
            entries = entries.where(F.col("table") == table)
        if reason:
            entries = entries.where(F.coalesce(F.instr("reason", reason), F.lit(0)) > 0)
        return entries

    return transform


def _group(source_file: Column, raw: Column) -> Column:
    return F.sha2(F.concat_ws(SEP, F.coalesce(source_file, F.lit("")), raw), 256)


def raw_records(entries: DataFrame) -> DataFrame:
    """Entries of one table -> one raw row (`value`, `_file`, `_block`, `key`) per distinct
    record of a file, with the entries it stands for and the newest of their positions.

    Identical records of one file decode alike; replaying the last of them is what
    replaying each in order leaves (a Kafka message's `source_file` names that message)."""
    return (
        entries.groupBy("source_file", "raw_record")
        .agg(
            F.max("position").alias("position"),
            F.max("record_key").alias("record_key"),
            F.collect_list(ENTRY).alias(ENTRIES),
        )
        .select(
            F.col("raw_record").alias("value"),
            F.col("source_file").alias(FILE),
            F.lit(0).cast("long").alias(BLOCK),
            F.col("record_key").alias("key"),
            "position",
            ENTRIES,
            _group(F.col("source_file"), F.col("raw_record")).alias(GROUP),
        )
    )


def kafka_messages(records: DataFrame) -> DataFrame:
    """Raw rows -> the same with `topic`, `partition`, `offset` from `_file`
    (`topic/partition/offset`, as the quarantine wrote it): the Kafka reader's shape.

    Partition and offset stay text, so that the decoder's `topic/partition/offset` is the
    entry's `source_file` again, character for character; one that is not of that form is
    kept whole as the topic (it then names no table's topic). A position without binlog
    coordinates (the event had none that could be read: malformed, say) is dropped: the
    corrected event's own coordinates, then the partition and offset it arrived at, order
    it (the decoder's `_pos`), since nothing else compares with what the target holds."""
    pattern = r"^(.*)/([0-9]+)/([0-9]+)$"
    found = F.col(FILE).rlike(pattern)
    part = {i: F.regexp_extract(F.col(FILE), pattern, i) for i in (1, 2, 3)}
    placed = F.when(~F.col("position").startswith(SEP), F.col("position"))
    return records.withColumn("position", placed).select(
        "*",
        F.when(found, part[1]).otherwise(F.col(FILE)).alias("topic"),
        F.when(found, part[2]).alias("partition"),
        F.when(found, part[3]).alias("offset"),
    )


def kinesis_records(records: DataFrame) -> DataFrame:
    """Raw rows -> the same with the Kinesis position the record arrived with (`_kpos`):
    the Kinesis reader's shape (`_file` is already `kinesis:<stream>/<partition key>`)."""
    return records.withColumn(KINESIS_POSITION, F.coalesce(F.col("position"), F.lit("")))


def replayed_position(records: DataFrame, fallback: Column) -> Callable[[DataFrame], DataFrame]:
    """Decoded rows -> the same with `_pos` the position their record arrived with
    (`fallback` when it has none), joined to their record's `position` and `entries`."""
    kept = records.select(GROUP, "position", ENTRIES)

    def transform(decoded: DataFrame) -> DataFrame:
        joined = decoded.withColumn(GROUP, _group(F.col(SOURCE_FILE), F.col(RAW))).join(kept, GROUP)
        base = F.coalesce(F.col("position"), fallback, F.lit(""))
        suffix = F.when(F.col(POS).endswith(BEFORE_IMAGE), F.lit(BEFORE_IMAGE)).otherwise("")
        return joined.withColumn(POS, F.concat(base, suffix)).drop("position")

    return transform


def outcomes(table: str) -> Callable[[DataFrame], DataFrame]:
    """Decoded rows (with `entries`) -> `entry`, `table`, `outcome`, `reason` per entry."""
    elsewhere = f"not a change of table {table} (a control record, or another table's)"

    def transform(decoded: DataFrame) -> DataFrame:
        applied = F.col(ERROR).isNull() & F.col(OP).isin(*APPLIED_OPS, OP_LOAD)
        per_record = decoded.groupBy(GROUP).agg(
            F.max(ERROR).alias("__error"),
            F.max(applied).alias("__applied"),
            F.first(ENTRIES).alias(ENTRIES),
        )
        reason = F.when(F.col("__error").isNotNull(), F.col("__error")).when(
            ~F.col("__applied"), F.lit(elsewhere)
        )
        return per_record.select(
            F.explode(ENTRIES).alias(ENTRY),
            F.lit(table).alias("table"),
            F.when(reason.isNull(), F.lit(RESOLVED)).otherwise(F.lit(REJECTED)).alias("outcome"),
            reason.alias("reason"),
        )

    return transform


def input_digest(entries: DataFrame) -> DataFrame:
    """One row of order-free sums over what was selected (entry, record, position, key): equal
    inputs give equal sums, whatever their order; the replay's writer id derives from it."""
    # A key (Kafka) counts when there is one; without, the sums are what they always were.
    text = F.concat_ws(
        SEP, F.col(ENTRY), F.col("raw_record"), F.coalesce("position", F.lit("")), "record_key"
    )
    each = F.sha2(text, 256)
    parts = [
        F.conv(F.substring(each, start, 15), 16, 10).cast("decimal(38,0)") for start in (1, 16, 31)
    ]
    return entries.agg(
        F.count(F.lit(1)).alias("n"), *[F.sum(p).alias(f"s{i}") for i, p in enumerate(parts)]
    )

"""Records that cannot be applied, kept whole with the reason; the stream goes on.

The quarantine holds raw source records (possibly personal data): protect it like
the source. One folder per table and batch, overwritten when a batch is replayed,
so a replay never duplicates entries. Each entry keeps the record's transport position
(`position`), so that replaying it later orders it where it arrived (jobs/replay.py), and
what the transport gave beside the record that its decoder reads: `source_file` (a landing
file; a Kafka message's `topic/partition/offset`; a Kinesis record's
`kinesis:<stream>/<partition key>`) and, for a Kafka message, its key (`record_key`, NULL
in entries written before it was kept: they read as before).

Beside the tables' folders, `_replay/` is the replay ledger: one folder per replay
(`replay=<id>`, overwritten when the same replay runs again) holding, for every entry the
replay selected, whether it went through the target (`resolved`: applied or stale) or was
rejected again (`rejected`, with the new reason). Quarantine files are never rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sinks.storage import Storage
from transforms.frames import empty_frame
from transforms.names import ERROR, POS, RAW, RAW_KEY, SOURCE_FILE

__all__ = [
    "ENTRY_SCHEMA",
    "LEDGER",
    "LEDGER_SCHEMA",
    "quarantined_tables",
    "read_entries",
    "read_ledger",
    "write_ledger",
    "write_quarantine",
]

ENTRY_SCHEMA = (
    "table string, batch_id long, reason string, source_file string, position string, "
    "raw_record string, quarantined_at string, record_key string"
)
LEDGER = "_replay"  # the replay ledger's folder under the quarantine root
LEDGER_SCHEMA = "entry string, table string, outcome string, reason string, replayed_at string"


def write_quarantine(rejected: DataFrame, root: str, table: str, batch_id: int) -> None:
    position = F.col(POS) if POS in rejected.columns else F.lit(None).cast("string")
    key = F.col(RAW_KEY) if RAW_KEY in rejected.columns else F.lit(None).cast("string")
    (
        rejected.select(
            F.lit(table).alias("table"),
            F.lit(batch_id).cast("long").alias("batch_id"),
            F.col(ERROR).alias("reason"),
            F.col(SOURCE_FILE).alias("source_file"),
            position.alias("position"),
            F.col(RAW).alias("raw_record"),
            F.current_timestamp().alias("quarantined_at"),
            key.alias("record_key"),
        )
        .coalesce(1)
        .write.mode("overwrite")
        .json(f"{root.rstrip('/')}/{table}/batch_id={batch_id}")
    )


def quarantined_tables(spark: SparkSession, root: str) -> list[str]:
    """The tables that have a quarantine folder (not `_unrouted`, not the ledger)."""
    storage = Storage(spark, root)
    if not storage.exists(root):
        return []
    return sorted(n for n in storage.list_names(root) if not n.startswith("_"))


def read_entries(spark: SparkSession, root: str, tables: Sequence[str]) -> DataFrame:
    """The quarantine entries of `tables` (every batch folder), one row each."""
    paths = [f"{root.rstrip('/')}/{t}" for t in tables]
    if not paths:
        return empty_frame(spark, ENTRY_SCHEMA)
    # The schema is given (no inference) and the `batch_id=` folders are not read as
    # partitions: the entry carries its batch id.
    return spark.read.schema(ENTRY_SCHEMA).option("recursiveFileLookup", "true").json(paths)


def read_ledger(spark: SparkSession, root: str) -> DataFrame:
    """Every outcome the replays recorded (empty before the first replay)."""
    path = f"{root.rstrip('/')}/{LEDGER}"
    if not Storage(spark, root).exists(path):
        return empty_frame(spark, LEDGER_SCHEMA)
    return spark.read.schema(LEDGER_SCHEMA).option("recursiveFileLookup", "true").json(path)


def write_ledger(outcomes: DataFrame, root: str, replay_id: str) -> None:
    """One replay's outcomes (`LEDGER_SCHEMA` columns); the same replay again overwrites."""
    (
        outcomes.select(*[F.col(c) for c in ("entry", "table", "outcome", "reason")])
        .withColumn(
            "replayed_at", F.date_format(F.current_timestamp(), "yyyy-MM-dd'T'HH:mm:ss.SSSSSS")
        )
        .coalesce(1)
        .write.mode("overwrite")
        .json(f"{root.rstrip('/')}/{LEDGER}/replay={replay_id}")
    )

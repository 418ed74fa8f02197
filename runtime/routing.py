"""What a source batch holds: the tables its records belong to, and each table's counts.

Both are aggregates over the batch's persisted records, and each Spark job costs its fixed
time (0.1-0.3 s on a small machine: at 1,000 changes/s, a sixth of a batch). So a batch
asks both questions in ONE job when it can guess its tables: a stream's batches mostly
touch the tables its last batch touched, and those tables' records can be decoded and
counted before the routing says they are there (`route_and_tally`). A guess that proves
wrong costs an empty branch; a table the guess missed is counted in a second job, as
without a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from config import TableConfig
from runtime.sizing import ROWS_PER_TASK
from runtime.tables import Replica
from sinks.parallel import in_parallel
from transforms.frames import union_all
from transforms.names import COMMIT_TS, ERROR, FILE, OP, REPLICA, SOURCE_SCHEMA, SOURCE_TABLE
from transforms.position import file_start_position
from transforms.types import SourceColumn, sql_string

__all__ = [
    "Guess",
    "Seen",
    "merge_seen",
    "newest_file",
    "newest_message",
    "route_and_tally",
    "tallied_rows",
    "tally_records",
]

_PART = "_part"  # which question a row of the fused job answers


@dataclass
class Guess:
    """A table's records decoded before the routing says the batch holds any, and what
    the table was when they were (`route_and_tally` counts them). A burst after quiet batches pays
    for its first batch: the guessed table's records decoded in the one partition that
    fits a quiet batch, then again in as many as they need; its next batch guesses it no
    more."""

    config: TableConfig
    columns: tuple[SourceColumn, ...]
    stopped: str | None
    records: DataFrame  # persisted, in one partition

    def holds(self, replica: Replica, count: int) -> bool:
        """Whether the routing left the table as guessed: its config, columns and state
        unchanged, and its `count` records fit in the one partition they were put in."""
        return (
            count <= ROWS_PER_TASK
            and replica.config is self.config
            and replica.columns == self.columns
            and replica.stopped == self.stopped
        )


@dataclass
class Seen:
    """What a batch holds of one source table."""

    count: int = 0
    fields: set[str] = field(default_factory=set)  # of its row images
    messages: list[tuple[str | None, str | None]] = field(default_factory=list)
    newest_file: str | None = None  # DMS Parquet: its footer describes the table


def merge_seen(
    rows: Iterable[Row], *, described: bool, files: bool
) -> dict[tuple[str | None, str | None], Seen]:
    """The routing aggregate's rows (one per table, or per table and Kafka partition when
    the records describe their table), merged per source table."""
    merged: dict[tuple[str | None, str | None], Seen] = {}
    for row in rows:
        seen = merged.setdefault((row[SOURCE_SCHEMA], row[SOURCE_TABLE]), Seen())
        seen.count += int(row["n"])
        seen.fields |= set(row["fields"] or ())
        if described:
            seen.messages.append((row["newest_value"], row["newest_key"]))
        if files:
            seen.newest_file = row["newest_file"]
    return merged


def _tally_frame(
    records: Mapping[str, DataFrame], parallel: int, shared: DataFrame | None = None
) -> DataFrame:
    """Every table's records counted by operation and outcome, with their commit times'
    span. The records are read in as many tasks as there are cores, not one task per table
    and partition, which at 200 tables took 77 s for the counting alone (docs/benchmarks.md).
    Each table's part is one select in SQL text (one call into the JVM), `parallel` built
    at once; the parts are alike, so they are united by position. `shared`: the records
    of many tables in one frame, each naming its table (runtime/shared.py)."""
    columns = [OP, f"{ERROR} IS NULL AS ok", f"CAST({COMMIT_TS} AS timestamp) AS {COMMIT_TS}"]

    def part(item: tuple[str, DataFrame]) -> DataFrame:
        name, frame = item
        return frame.selectExpr(f"{sql_string(name)} AS {REPLICA}", *columns)

    parts = list(in_parallel({n: (n, f) for n, f in records.items()}, part, parallel).values())
    parts += [shared.selectExpr(REPLICA, *columns)] if shared is not None else []
    return (
        union_all(parts)
        .coalesce(parts[0].sparkSession.sparkContext.defaultParallelism)
        .groupBy(REPLICA, OP, "ok")
        .agg(
            F.count(F.lit(1)).alias("n"), F.min(COMMIT_TS).alias("lo"), F.max(COMMIT_TS).alias("hi")
        )
    )


def _by_table(rows: Iterable[Row]) -> dict[str, list[Row]]:
    tallies: dict[str, list[Row]] = {}
    for row in rows:
        tallies.setdefault(str(row[REPLICA]), []).append(row)
    return tallies


def tally_records(
    records: Mapping[str, DataFrame], parallel: int = 1, shared: DataFrame | None = None
) -> dict[str, list[Row]]:
    """Every table's counts (rows of `_op`, `ok`, `n`, `lo`, `hi`), in ONE Spark job for
    the whole batch (a job per table costs its fixed time per table); the job also fills
    each table's persisted records, and `shared` (many tables' records, each naming its
    table). `parallel`: tables whose part is built at once."""
    if not records and shared is None:
        return {}
    return _by_table(_tally_frame(records, parallel, shared).collect())


def tallied_rows(tallies: Mapping[str, list[Row]]) -> int:
    """The records `tally_records` counted, every table's."""
    return sum(int(row["n"]) for rows in tallies.values() for row in rows)


def route_and_tally(
    seen: DataFrame,
    records: Mapping[str, DataFrame],
    parallel: int = 1,
    shared: DataFrame | None = None,
) -> tuple[list[Row], dict[str, list[Row]]]:
    """The routing aggregate's rows (`seen`) and the counts of the guessed tables'
    `records` (and of `shared`, many tables' records decoded ahead by one program), in ONE
    Spark job: a union of both aggregates, each row tagged with its question."""
    if not records and shared is None:
        return seen.collect(), {}
    tally = _tally_frame(records, parallel, shared).withColumn(_PART, F.lit("tally"))
    rows = seen.withColumn(_PART, F.lit("seen")).unionByName(tally, True).collect()
    routed = [row for row in rows if row[_PART] == "seen"]
    return routed, _by_table(row for row in rows if row[_PART] == "tally")


def newest_message() -> tuple[Column, Column]:
    """Aggregates: the value and key of the newest message of the group (offset order,
    grouped by Kafka partition); tombstones (no value) left out. What records that carry
    their schema say about their table (sources/record_schemas.py)."""
    value = F.col("value").cast("string")
    newest = F.when(value.isNotNull(), F.col("offset"))
    return (
        F.max_by(value, newest).alias("newest_value"),
        F.max_by(F.col("key").cast("string"), newest).alias("newest_key"),
    )


def newest_file() -> Column:
    """Aggregate: the newest file of the group (full load first, then DMS's time-named CDC
    files). Its footer describes a table of DMS Parquet files (sources/parquet_schemas.py)."""
    return F.max_by(F.col(FILE), file_start_position(F.col(FILE))).alias("newest_file")

"""SCD type 2 by MERGE, what the Delta and Iceberg history engines share: the batch's new
events and timeline (the SQL of sinks/scd2.py), and the two MERGE sources built from them.

Both engines then MERGE `versions` into the history on (keys, `_pos`) (expired: delete;
matched: set valid_to/is_current; new and not expired: insert), and `events` into the
events table on (keys, `_pos`) (expired: delete; not matched: insert). A re-run of those
MERGEs over the same events changes nothing: new versions match and get the same
intervals, new events match.
"""

from __future__ import annotations

import time
import uuid
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, StringType, StructField, StructType, TimestampType

from sinks.base import BatchResult
from sinks.scd2 import IS_CURRENT, VALID_FROM, VALID_TO, Scd2Sql
from sinks.table_pair import OpenBatch, TablePair
from transforms.names import COMMIT_TS, DELETED, POS, SEQ
from transforms.types import quote

__all__ = [
    "EXPIRED",
    "NEW",
    "Derived",
    "HistoryPair",
    "derive",
    "event_rows",
    "history_result",
    "history_schemas",
    "versions",
]

NEW = "__new"  # a version the batch adds (not one the history holds)
EXPIRED = "__expired"  # closed before `history_events`: leaves history and events


@dataclass(frozen=True)
class Derived:
    """What a batch adds: its new events (persisted) and the touched keys' timeline."""

    new: DataFrame  # payload, _seq (filled), _pos, _deleted, _commit_ts
    timeline: DataFrame  # keys, _seq, _pos, _deleted, _commit_ts, valid_to, is_current, EXPIRED
    added: int  # new events, deletes included
    deletes: int


@contextmanager
def derive(
    changes: DataFrame,
    events: DataFrame,
    *,
    keys: Sequence[str],
    payload: Sequence[str],
    expired_before: datetime | None,
) -> Iterator[Derived]:
    """The batch's new events against `events` (the events table, canonical names, within
    the batch's key range) and their timeline; the views and the cache live while the
    block runs (the engine's MERGEs read them)."""
    spark = changes.sparkSession
    sql = Scd2Sql(keys=keys, payload=payload, quote=quote)
    names = {n: f"scd2_{n}_{uuid.uuid4().hex}" for n in ("batch", "events", "new")}
    changes.createOrReplaceTempView(names["batch"])
    events.createOrReplaceTempView(names["events"])
    new = spark.sql(sql.new_events(names["batch"], names["events"])).persist()
    try:
        new.createOrReplaceTempView(names["new"])
        counts = new.agg(
            F.count(F.lit(1)).alias("n"), F.sum(F.col(DELETED).cast("int")).alias("d")
        ).first()
        assert counts is not None
        timeline = spark.sql(sql.timeline(names["new"], names["events"])).withColumn(
            EXPIRED, _closed_before(expired_before)
        )
        yield Derived(new, timeline, int(counts["n"]), int(counts["d"] or 0))
    finally:
        new.unpersist()
        for view in names.values():
            spark.catalog.dropTempView(view)


def versions(derived: Derived, keys: Sequence[str], payload: Sequence[str]) -> DataFrame:
    """The history MERGE's source: every version of the touched keys with its interval,
    the new ones (NEW) with their payload and valid_from."""
    ids = [*keys, POS]
    added = derived.new.where(~F.col(DELETED)).select(
        *ids,
        *[F.col(f"`{c}`") for c in payload if c not in keys],
        F.col(COMMIT_TS).alias(VALID_FROM),
        F.lit(True).alias(NEW),
    )
    return derived.timeline.where(~F.col(DELETED)).join(added, ids, "left")


def event_rows(derived: Derived, keys: Sequence[str], expiring: bool) -> DataFrame:
    """The events MERGE's source: the new events; when history expires (`expiring`), the
    touched keys' whole timeline, so that the expired events can be deleted."""
    event = [*keys, SEQ, POS, DELETED, COMMIT_TS]
    if expiring:
        return derived.timeline.select(*event, EXPIRED)
    return derived.new.select(*event, F.lit(False).alias(EXPIRED))


def history_result(
    batch_id: int, arrived: int, derived: Derived | None, rows: int, timings: dict[str, float]
) -> BatchResult:
    """What an SCD2 batch did: a change that adds no event (a replay) is stale."""
    added, deletes = (derived.added, derived.deletes) if derived else (0, 0)
    return BatchResult(
        batch_id=batch_id,
        changes_in=arrived,
        upserts=added - deletes,
        deletes=deletes,
        stale=arrived - added,
        rows_in_table=rows,
        timings=timings,
    )


def history_schemas(
    schema: StructType, keys: Sequence[str], payload: Sequence[str]
) -> tuple[StructType, StructType]:
    """The columns of the history and of the events table for a batch of `schema`."""
    history = StructType(
        [schema[c] for c in payload]
        + [
            StructField(VALID_FROM, TimestampType()),
            StructField(VALID_TO, TimestampType()),
            StructField(IS_CURRENT, BooleanType()),
            StructField(SEQ, StringType()),
            StructField(POS, StringType()),
        ]
    )
    events = StructType(
        [schema[k] for k in keys]
        + [
            StructField(SEQ, StringType()),
            StructField(POS, StringType()),
            StructField(DELETED, BooleanType()),
            StructField(COMMIT_TS, TimestampType()),
        ]
    )
    return history, events


def _closed_before(before: datetime | None) -> Column:
    """A timeline event whose next change committed before `before`: its version (if
    any) and the event itself have expired. Never for a key's last event."""
    if before is None:
        return F.lit(False)
    closed = ~F.col(IS_CURRENT) & (F.col(VALID_TO) < F.lit(before))
    return F.coalesce(closed, F.lit(False))


class HistoryPair(TablePair):
    """An SCD2 table and its events table on a format that MERGEs (Delta, Iceberg): the
    batch opens as any pair's, `derive` decides, the format commits (`_commit`)."""

    def _apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        started = time.monotonic()
        batch = self._open(changes, batch_id, writer_id)
        if isinstance(batch, BatchResult):
            return batch
        timings: dict[str, float] = {}
        with derive(
            changes,
            batch.state,
            keys=self._keys,
            payload=batch.payload,
            expired_before=self._expiry.history_before(self._expiry.now()),
        ) as derived:
            timings["decide_s"] = time.monotonic() - started
            if derived.added:
                self._commit(derived, batch, (writer_id, batch_id), timings)
        self._memory.recount()  # history rows: counted after every batch
        rows = self._applied(changes.sparkSession, writer_id, batch_id, 0)
        timings["total_s"] = time.monotonic() - started
        return history_result(batch_id, batch.arrived, derived, rows, timings)

    @abstractmethod
    def _commit(
        self,
        derived: Derived,
        batch: OpenBatch,
        writer: tuple[str, int],
        timings: dict[str, float],
    ) -> None:
        """The history's MERGE, then the events table's, within the batch's key range;
        `writer` is (writer id, batch id); `timings` gets each commit's seconds."""

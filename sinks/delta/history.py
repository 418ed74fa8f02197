"""SCD type 2 on Delta: one row per version, kept by MERGE (rules in sinks/scd2.py).

Layout of one table:

    <table>/              the published history: payload, valid_from, valid_to,
                          is_current, _seq, _pos; one row per inserted/updated version
    <table>/_cdc/events/  every change applied (deletes included): keys, _seq, _pos,
                          _deleted, _commit_ts

One batch opens like type 1 (table.py): the events table is read at its current version
(pinned) for the batch's key range; then derive the new events and the timeline of the
touched keys with the shared SQL, then
1. MERGE the timeline into the history on (keys, _pos): new versions are inserted,
   the others get their valid_to/is_current; one commit;
2. MERGE the new events into the events table; one commit.
Both with `txnAppId`/`txnVersion`: a replayed batch writes nothing, and a crash
between the two commits rolls forward exactly as for type 1.

Retention (`history_events`): a version of a touched key closed (`valid_to`) before the
cut-off is deleted by the history MERGE, and its event by the events MERGE, in those same
commits; the latest event of a key always stays. Keys no batch touches keep their old
versions until one does (bounded cost: only the timeline the batch computes anyway).
"""

from __future__ import annotations

import time
from datetime import datetime
from functools import reduce
from operator import and_

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, StringType, StructField, StructType, TimestampType

from sinks.base import BatchResult
from sinks.crash import crash_point
from sinks.delta.log import session_settings
from sinks.delta.table import DeltaTables
from sinks.merge_scope import within
from sinks.scd2 import IS_CURRENT, VALID_FROM, VALID_TO, Scd2Sql
from transforms.names import COMMIT_TS, DELETED, POS, SEQ

__all__ = ["DeltaHistoryEngine"]

_NEW = "__new"
_EXPIRED = "__expired"


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class DeltaHistoryEngine(DeltaTables):
    """One Delta table kept as SCD type 2; create one per table and reuse it.

    `partition_by` partitions the history by the versions' own values (a version never
    moves); the events table is not partitioned (keys and order only).
    """

    state_name = "events"

    def _apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        started = time.monotonic()
        batch = self._open(changes, batch_id, writer_id)
        if isinstance(batch, BatchResult):
            return batch
        spark = changes.sparkSession
        sql = Scd2Sql(keys=self._keys, payload=batch.payload, quote=_quote)
        names = {n: f"scd2_{n}_{id(self)}_{batch_id}" for n in ("batch", "events", "new")}
        changes.createOrReplaceTempView(names["batch"])
        batch.state.createOrReplaceTempView(names["events"])
        new = spark.sql(sql.new_events(names["batch"], names["events"])).persist()
        timings: dict[str, float] = {}
        try:
            new.createOrReplaceTempView(names["new"])
            counts = new.agg(
                F.count(F.lit(1)).alias("n"),
                F.sum(F.col(DELETED).cast("int")).alias("d"),
            ).first()
            assert counts is not None
            added, deletes = int(counts["n"]), int(counts["d"] or 0)
            timings["decide_s"] = time.monotonic() - started
            if added:
                timeline = spark.sql(sql.timeline(names["new"], names["events"])).withColumn(
                    _EXPIRED, _closed_before(self._expiry.history_before(self._expiry.now()))
                )
                self._commit(
                    new,
                    timeline,
                    payload=batch.payload,
                    bounds=batch.bounds,
                    writer_id=writer_id,
                    batch_id=batch_id,
                    timings=timings,
                )
        finally:
            new.unpersist()
            for view in names.values():
                spark.catalog.dropTempView(view)
        self._memory.recount()  # history rows: counted after every batch
        rows = self._applied(spark, writer_id, batch_id, 0)
        timings["total_s"] = time.monotonic() - started
        return BatchResult(
            batch_id=batch_id,
            changes_in=batch.arrived,
            upserts=added - deletes,
            deletes=deletes,
            stale=batch.arrived - added,
            rows_in_table=rows,
            timings=timings,
        )

    def _commit(
        self,
        new: DataFrame,
        timeline: DataFrame,
        *,
        payload: list[str],
        bounds: tuple[object, object],
        writer_id: str,
        batch_id: int,
        timings: dict[str, float],
    ) -> None:
        spark = new.sparkSession
        ids = [*self._keys, POS]
        versions = timeline.where(~F.col(DELETED)).join(
            new.where(~F.col(DELETED)).select(
                *ids,
                *[F.col(f"`{c}`") for c in payload if c not in self._keys],
                F.col(COMMIT_TS).alias(VALID_FROM),
                F.lit(True).alias(_NEW),
            ),
            ids,
            "left",
        )
        match = reduce(and_, [F.col(f"t.`{c}`") == F.col(f"s.`{c}`") for c in ids])
        scope = within(F.col(f"t.`{self._keys[0]}`"), *bounds)
        columns = [*payload, VALID_FROM, VALID_TO, IS_CURRENT, SEQ, POS]
        with session_settings(spark, self._write_settings(writer_id, batch_id)):
            mark = time.monotonic()
            (
                DeltaTable.forPath(spark, self.path)
                .alias("t")
                .merge(versions.alias("s"), match & scope)
                .whenMatchedDelete(condition=F.col(f"s.{_EXPIRED}"))
                .whenMatchedUpdate(
                    set={c: F.col(f"s.{c}") for c in (VALID_TO, IS_CURRENT)},
                )
                .whenNotMatchedInsert(
                    condition=F.col(f"s.{_NEW}") & ~F.col(f"s.{_EXPIRED}"),
                    values={f"`{c}`": F.col(f"s.`{c}`") for c in columns},
                )
                .execute()
            )
            timings["merge_s"] = time.monotonic() - mark
            crash_point("delta.after_data_commit")
            mark = time.monotonic()
            self._merge_events(new, timeline, match)
            timings["keys_s"] = time.monotonic() - mark
        crash_point("delta.after_commit")

    def _merge_events(self, new: DataFrame, timeline: DataFrame, match: Column) -> None:
        """Append the new events; with `history_events`, delete the expired ones of the
        touched keys (their whole timeline is the source then)."""
        event = [*self._keys, SEQ, POS, DELETED, COMMIT_TS]
        events = new.select(*event, F.lit(False).alias(_EXPIRED))
        if self._expiry.history is not None:
            events = timeline.select(*event, _EXPIRED)
        (
            DeltaTable.forPath(new.sparkSession, self.state_path)
            .alias("t")
            .merge(events.alias("s"), match)
            .whenMatchedDelete(condition=F.col(f"s.{_EXPIRED}"))
            .whenNotMatchedInsert(
                condition=~F.col(f"s.{_EXPIRED}"),
                values={f"`{c}`": F.col(f"s.`{c}`") for c in event},
            )
            .execute()
        )

    def _schemas(self, changes: DataFrame, payload: list[str]) -> tuple[StructType, StructType]:
        history = StructType(
            [changes.schema[c] for c in payload]
            + [
                StructField(VALID_FROM, TimestampType()),
                StructField(VALID_TO, TimestampType()),
                StructField(IS_CURRENT, BooleanType()),
                StructField(SEQ, StringType()),
                StructField(POS, StringType()),
            ]
        )
        events = StructType(
            [changes.schema[k] for k in self._keys]
            + [
                StructField(SEQ, StringType()),
                StructField(POS, StringType()),
                StructField(DELETED, BooleanType()),
                StructField(COMMIT_TS, TimestampType()),
            ]
        )
        return history, events

    def _state_partitions(self) -> list[str]:
        return []


def _closed_before(before: datetime | None) -> Column:
    """A timeline event whose next change committed before `before`: its version (if
    any) and the event itself have expired. Never for a key's last event."""
    if before is None:
        return F.lit(False)
    closed = ~F.col(IS_CURRENT) & (F.col(VALID_TO) < F.lit(before))
    return F.coalesce(closed, F.lit(False))

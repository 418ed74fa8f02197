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
from functools import reduce
from operator import and_

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from sinks.crash import crash_point
from sinks.delta.table import DeltaTables
from sinks.merge_scope import source, target, within
from sinks.scd2 import IS_CURRENT, VALID_FROM, VALID_TO
from sinks.scd2_merge import (
    EXPIRED,
    NEW,
    Derived,
    HistoryPair,
    event_rows,
    history_schemas,
    versions,
)
from sinks.settings import session_settings
from sinks.table_pair import OpenBatch
from transforms.names import COMMIT_TS, DELETED, POS, SEQ

__all__ = ["DeltaHistoryEngine"]


class DeltaHistoryEngine(HistoryPair, DeltaTables):
    """One Delta table kept as SCD type 2; create one per table and reuse it.

    `partition_by` partitions the history by the versions' own values (a version never
    moves); the events table is not partitioned (keys and order only).
    """

    state_name = "events"

    def _commit(
        self,
        derived: Derived,
        batch: OpenBatch,
        writer: tuple[str, int],
        timings: dict[str, float],
    ) -> None:
        spark = derived.new.sparkSession
        payload, bounds = batch.payload, batch.bounds
        writer_id, batch_id = writer
        ids = [*self._keys, POS]
        match = reduce(and_, [target(c) == source(c) for c in ids])
        scope = within(target(self._keys[0]), *bounds)
        columns = [*payload, VALID_FROM, VALID_TO, IS_CURRENT, SEQ, POS]
        with session_settings(spark, self._write_settings(writer_id, batch_id)):
            mark = time.monotonic()
            (
                DeltaTable.forPath(spark, self.path)
                .alias("t")
                .merge(versions(derived, self._keys, payload).alias("s"), match & scope)
                .whenMatchedDelete(condition=F.col(f"s.{EXPIRED}"))
                .whenMatchedUpdate(
                    set={c: F.col(f"s.{c}") for c in (VALID_TO, IS_CURRENT)},
                )
                .whenNotMatchedInsert(
                    condition=F.col(f"s.{NEW}") & ~F.col(f"s.{EXPIRED}"),
                    values={f"`{c}`": F.col(f"s.`{c}`") for c in columns},
                )
                .execute()
            )
            timings["merge_s"] = time.monotonic() - mark
            crash_point("delta.after_data_commit")
            mark = time.monotonic()
            self._merge_events(derived, match)
            timings["keys_s"] = time.monotonic() - mark
        crash_point("delta.after_commit")

    def _merge_events(self, derived: Derived, match: Column) -> None:
        """Append the new events; with `history_events`, delete the expired ones of the
        touched keys (their whole timeline is the source then)."""
        events = event_rows(derived, self._keys, expiring=self._expiry.history is not None)
        event = [*self._keys, SEQ, POS, DELETED, COMMIT_TS]
        (
            DeltaTable.forPath(derived.new.sparkSession, self.state_path)
            .alias("t")
            .merge(events.alias("s"), match)
            .whenMatchedDelete(condition=F.col(f"s.{EXPIRED}"))
            .whenNotMatchedInsert(
                condition=~F.col(f"s.{EXPIRED}"),
                values={f"`{c}`": F.col(f"s.`{c}`") for c in event},
            )
            .execute()
        )

    def _schemas(self, changes: DataFrame, payload: list[str]) -> tuple[StructType, StructType]:
        return history_schemas(changes.schema, self._keys, payload)

    def _state_partitions(self) -> list[str]:
        return []

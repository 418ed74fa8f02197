"""SCD type 2 on Iceberg: one row per version, kept by MERGE (rules in sinks/scd2.py).

Layout, in the namespace of the type 1 tables (engine.py):

    <namespace>.<table>               the published history: payload, valid_from,
                                      valid_to, is_current, _seq, _cdc_pos; one row per
                                      inserted/updated version; partitioned like a type 1
                                      table (each version by its own values)
    <namespace>.<table>__cdc_events   every change applied (deletes included): keys,
                                      _seq, _cdc_pos, _cdc_deleted, _commit_ts;
                                      partitioned by the key columns' partition fields
                                      only (it holds no other column)

`_pos` and `_deleted` are Iceberg's metadata columns: both tables store them as `_cdc_pos`
and `_cdc_deleted`, and the engine reads them back under the canonical names (merge.py).

One batch opens like type 1 (tables.py): the events table is read at its current snapshot
(pinned) for the batch's key range; the new events and the timeline of the touched keys
come from the SQL the Delta and warehouse engines run (sinks/scd2.py, sinks/scd2_merge.py);
then
1. MERGE the timeline into the history on (keys, _cdc_pos): new versions are inserted,
   held ones get their valid_to/is_current when these changed; one snapshot;
2. MERGE the new events into the events table: one snapshot, the batch's last commit.
Both snapshots carry (writer, batch): a replayed batch writes nothing, and a crash
between the two commits rolls forward exactly as for type 1 (the history's MERGE is
skipped when its ancestry names the batch; run again, it would change nothing). Crash
points: `iceberg.history.after_data_commit`, `iceberg.history.after_commit`.

Retention (`history_events`), as on Delta: a version of a touched key closed (`valid_to`)
before the cut-off is deleted by the history MERGE, and its event by the events MERGE, in
those same snapshots; the latest event of a key always stays.
"""

from __future__ import annotations

import uuid
from functools import reduce
from operator import and_

from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from sinks.iceberg.catalog import partition_fields
from sinks.iceberg.merge import STORED, merge_events_sql, merge_history_sql, stored
from sinks.iceberg.tables import IcebergTables
from sinks.merge_scope import source, target, within
from sinks.scd2 import HISTORY_COLUMNS
from sinks.scd2_merge import (
    EXPIRED,
    NEW,
    Derived,
    HistoryPair,
    event_rows,
    history_schemas,
    versions,
)
from sinks.table_pair import OpenBatch
from transforms.names import COMMIT_TS, DELETED, POS, SEQ

__all__ = ["IcebergHistoryEngine"]


class IcebergHistoryEngine(HistoryPair, IcebergTables):
    """One Iceberg table kept as SCD type 2, and its events table; create one per table
    and reuse it."""

    state_name = "events"
    crash_prefix = "iceberg.history"

    @property
    def events_table(self) -> str:
        return self.state_table

    def _commit(
        self,
        derived: Derived,
        batch: OpenBatch,
        writer: tuple[str, int],
        timings: dict[str, float],
    ) -> None:
        spark = derived.new.sparkSession
        payload, bounds = batch.payload, batch.bounds
        ids = [STORED.get(c, c) for c in (*self._keys, POS)]
        on = reduce(and_, [target(c) == source(c) for c in ids]) & within(
            target(self._keys[0]), *bounds
        )
        expiring = self._expiry.history is not None
        views = [f"cdc_iceberg_{n}_{uuid.uuid4().hex}" for n in ("versions", "events")]
        versions(derived, self._keys, payload).transform(stored).createOrReplaceTempView(views[0])
        event_rows(derived, self._keys, expiring).transform(stored).createOrReplaceTempView(
            views[1]
        )
        history_sql = merge_history_sql(
            self._catalog.table(self.table),
            views[0],
            [STORED.get(c, c) for c in (*payload, *HISTORY_COLUMNS)],
            on,
            expired=EXPIRED,
            new=NEW,
        )
        events_sql = merge_events_sql(
            self._catalog.table(self.events_table),
            views[1],
            [STORED.get(c, c) for c in (*self._keys, SEQ, POS, DELETED, COMMIT_TS)],
            on,
            expired=EXPIRED,
            expiring=expiring,
        )
        self._commit_pair(spark, writer, (history_sql, events_sql), views, timings)

    def _schemas(self, changes: DataFrame, payload: list[str]) -> tuple[StructType, StructType]:
        return history_schemas(changes.schema, self._keys, payload)

    def _state_partitions(self) -> list[str]:
        keys = [p for p in self._parts if p in self._keys]
        return partition_fields(keys, self._transforms, only=self._keys)

"""SCD type 2 on Delta: one row per version, kept by MERGE (rules in sinks/scd2.py).

Layout of one table:

    <table>/              the published history: payload, valid_from, valid_to,
                          is_current, _seq, _pos; one row per inserted/updated version
    <table>/_cdc/events/  every change applied (deletes included): keys, _seq, _pos,
                          _deleted, _commit_ts

One batch, like type 1 (see engine.py): read the events table at its current version
(pinned) for the batch's key range, derive the new events and the timeline of the
touched keys with the shared SQL, then
1. MERGE the timeline into the history on (keys, _pos): new versions are inserted,
   the others get their valid_to/is_current; one commit;
2. MERGE the new events into the events table; one commit.
Both with `txnAppId`/`txnVersion`: a replayed batch writes nothing, and a crash
between the two commits rolls forward exactly as for type 1.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import reduce
from operator import and_

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, StringType, StructField, StructType, TimestampType

from sinks.base import BatchResult
from sinks.crash import crash_point
from sinks.delta.log import add_missing_columns, idempotent, log_state, session_settings
from sinks.delta.merge import within
from sinks.scd2 import DELETED, IS_CURRENT, VALID_FROM, VALID_TO, Scd2Sql
from sinks.storage import Storage
from transforms.names import BOOKKEEPING, COMMIT_TS, POS, SEQ

__all__ = ["DeltaHistoryEngine"]

_NEW = "__new"


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class DeltaHistoryEngine:
    """One Delta table kept as SCD type 2; create one per table and reuse it."""

    def __init__(
        self, spark: SparkSession, path: str, *, keys: Sequence[str], state_dir: str = "_cdc"
    ) -> None:
        self.path = Storage(spark, path).root
        self.location = self.path
        self.events_path = f"{self.path}/{state_dir}/events"
        self._keys = list(keys)
        self._columns: set[str] = set()

    def recover(self) -> None:
        """Nothing to do: see DeltaEngine.recover."""

    def apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        started = time.monotonic()
        spark = changes.sparkSession
        payload = [c for c in changes.columns if c not in BOOKKEEPING]
        self._ensure_tables(changes, payload)
        state = log_state(spark, self.events_path, writer_id)
        if state.last_batch >= batch_id:
            return BatchResult(batch_id=batch_id, skipped=True)
        first = f"`{self._keys[0]}`"
        bounds = changes.agg(F.min(first), F.max(first)).first()
        assert bounds is not None
        if bounds[0] is None:
            return BatchResult(batch_id=batch_id)
        events = (
            spark.read.format("delta")
            .option("versionAsOf", state.version)
            .load(self.events_path)
            .where(within(F.col(first), *bounds))
        )
        sql = Scd2Sql(keys=self._keys, payload=payload, quote=_quote)
        names = {n: f"scd2_{n}_{id(self)}_{batch_id}" for n in ("batch", "events", "new")}
        changes.createOrReplaceTempView(names["batch"])
        events.createOrReplaceTempView(names["events"])
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
                timeline = spark.sql(sql.timeline(names["new"], names["events"]))
                self._commit(
                    new,
                    timeline,
                    payload=payload,
                    bounds=bounds,
                    writer_id=writer_id,
                    batch_id=batch_id,
                    timings=timings,
                )
        finally:
            new.unpersist()
            for view in names.values():
                spark.catalog.dropTempView(view)
        changes_in = changes.count()
        timings["total_s"] = time.monotonic() - started
        return BatchResult(
            batch_id=batch_id,
            changes_in=changes_in,
            upserts=added - deletes,
            deletes=deletes,
            stale=changes_in - added,
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
        with session_settings(spark, idempotent(writer_id, batch_id)):
            mark = time.monotonic()
            (
                DeltaTable.forPath(spark, self.path)
                .alias("t")
                .merge(versions.alias("s"), match & scope)
                .whenMatchedUpdate(
                    set={c: F.col(f"s.{c}") for c in (VALID_TO, IS_CURRENT)},
                )
                .whenNotMatchedInsert(
                    condition=F.col(f"s.{_NEW}"),
                    values={f"`{c}`": F.col(f"s.`{c}`") for c in columns},
                )
                .execute()
            )
            timings["merge_s"] = time.monotonic() - mark
            crash_point("delta.after_data_commit")
            mark = time.monotonic()
            (
                DeltaTable.forPath(spark, self.events_path)
                .alias("t")
                .merge(new.select(*self._keys, SEQ, POS, DELETED, COMMIT_TS).alias("s"), match)
                .whenNotMatchedInsertAll()
                .execute()
            )
            timings["keys_s"] = time.monotonic() - mark
        crash_point("delta.after_commit")

    def _ensure_tables(self, changes: DataFrame, payload: list[str]) -> None:
        wanted = {c.lower() for c in payload}
        if wanted <= self._columns:
            return
        spark = changes.sparkSession
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
        add_missing_columns(spark, self.path, history, ())
        events = StructType(
            [changes.schema[k] for k in self._keys]
            + [
                StructField(SEQ, StringType()),
                StructField(POS, StringType()),
                StructField(DELETED, BooleanType()),
                StructField(COMMIT_TS, TimestampType()),
            ]
        )
        add_missing_columns(spark, self.events_path, events, ())
        self._columns |= wanted

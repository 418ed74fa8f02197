"""What the Delta and Iceberg engines share: a published table beside a state table, and
the opening of a batch.

A batch opens the same way on both formats (the format's own steps are the hooks):
1. create both tables, or add the columns the batch brings (`_ensure_tables`);
2. the writer's last committed batch (`_last_committed`, read from the state table's log
   or snapshots, whose commit is a batch's last): a batch id not above it was applied
   whole, and a replay writes nothing;
3. the state table as pinned (`_state_rows`), restricted to the batch's key range (and,
   where the format can say it cheaply, to the partitions whose files may hold one of
   the batch's keys: `_summary`); none of it when the engine created both tables and
   applied nothing since (`empty`: the batch has nothing to guard against, and a
   latest-state engine writes it without a MERGE).

Then the latest-state engines (`LatestPair`) decide the batch (sinks/decide.py) and the
format commits the accepted changes; the SCD2 engines (sinks/scd2_merge.py `HistoryPair`)
derive versions instead.

What an engine committed it remembers (sinks/memory.py): a batch that fails makes it forget,
so the next one reads the tables again.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from sinks.base import BatchResult
from sinks.decide import count, decide, decide_first, held
from sinks.memory import Committed
from sinks.merge_scope import within
from sinks.retention import Expiry
from transforms.names import ACCEPTED, BOOKKEEPING
from transforms.types import quote

__all__ = ["Accepted", "LatestPair", "OpenBatch", "TablePair"]


@dataclass(frozen=True)
class OpenBatch:
    """A batch that has something to apply."""

    payload: list[str]  # business columns of the batch, in order
    arrived: int  # changes in the batch, before any collapsing per key
    bounds: tuple[Any, Any]  # lowest and highest value of the first key
    state: DataFrame  # the state table as pinned, within `bounds`
    empty: bool = False  # both tables hold nothing (created by this engine, nothing applied)


@dataclass(frozen=True)
class Accepted:
    """What a latest-state batch commits: the changes its decision accepted, and where."""

    rows: DataFrame  # the decision's rows of the accepted changes
    partitions: tuple[tuple[Any, ...], ...]  # those the changes touch: where keys are, go to
    payload: list[str]  # business columns, in order
    bounds: tuple[Any, Any]  # lowest and highest value of the first key
    batch: tuple[str, int]  # writer id, batch id
    at: tuple[datetime, datetime | None]  # tombstones stamped at[0]; expired before at[1]
    empty: bool = False  # both tables hold nothing: inserts, not MERGEs


class TablePair(ABC):
    """A published table and its state table; subclasses set `_keys`, `_parts`,
    `_memory` and `_expiry`."""

    _keys: list[str]
    _parts: list[str]
    _memory: Committed
    _expiry: Expiry

    def apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        """Apply one micro-batch; a batch that fails makes the engine forget what it kept."""
        try:
            return self._apply(changes, batch_id, writer_id)
        except BaseException:
            self._memory.forget()
            raise

    @abstractmethod
    def _apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        """The engine's batch: open it (`_open`), decide, commit, then `_applied`."""

    @abstractmethod
    def _ensure_tables(self, changes: DataFrame, payload: list[str]) -> None:
        """Create both tables, or add to both the columns the batch brings."""

    @abstractmethod
    def _last_committed(self, spark: SparkSession, writer_id: str) -> int:
        """The writer's last batch the state table records (-1: none)."""

    @abstractmethod
    def _state_rows(self, spark: SparkSession) -> DataFrame:
        """The state table as pinned for this batch."""

    @abstractmethod
    def _count(self, spark: SparkSession) -> int:
        """Rows of the published table."""

    def _summary(self, changes: DataFrame) -> tuple[Any, Any, int, Column | None]:
        """The batch's lowest and highest first key and its count of changes, in one Spark
        job; an engine that can also narrow the state read adds a condition on the state
        table's columns (None: the key range alone)."""
        first = F.col(quote(self._keys[0]))
        row = changes.agg(F.min(first), F.max(first), F.count(F.lit(1))).first()
        assert row is not None
        return row[0], row[1], int(row[2]), None

    def _open(self, changes: DataFrame, batch_id: int, writer_id: str) -> OpenBatch | BatchResult:
        """Steps 1-3 of the module docstring; a BatchResult when there is nothing to apply."""
        spark = changes.sparkSession
        payload = [c for c in changes.columns if c not in BOOKKEEPING]
        self._ensure_tables(changes, payload)
        # Tables this engine has just created record no writer's batch yet.
        last = (
            -1
            if self._memory.empty
            else self._memory.last_batch(writer_id, lambda: self._last_committed(spark, writer_id))
        )
        if last >= batch_id:
            return BatchResult(batch_id=batch_id, skipped=True, rows_in_table=self._counted(spark))
        empty = self._memory.empty
        low, high, arrived, narrower = self._summary(changes)
        if low is None:  # no change, or no key
            return BatchResult(batch_id=batch_id, rows_in_table=self._counted(spark))
        scope = within(F.col(quote(self._keys[0])), low, high)
        if narrower is not None:
            scope = scope & narrower
        state = self._state_rows(spark).where(F.lit(False) if empty else scope)
        return OpenBatch(
            payload=payload, arrived=arrived, bounds=(low, high), state=state, empty=empty
        )

    def _decided(
        self, changes: DataFrame, batch: OpenBatch, expired_before: datetime | None
    ) -> DataFrame:
        """The batch's decision (sinks/decide.py), persisted: without joins into tables
        that hold nothing (`batch.empty`), nothing to guard against."""
        if batch.empty:
            return changes.transform(decide_first(self._keys, self._parts)).persist()
        held_rows = batch.state.transform(held(self._keys, self._parts))
        return changes.transform(decide(self._keys, held_rows, expired_before)).persist()

    def _applied(self, spark: SparkSession, writer_id: str, batch_id: int, net_rows: int) -> int:
        """Remember a batch applied whole; the published table's rows after it."""
        return self._memory.applied(writer_id, batch_id, net_rows, lambda: self._count(spark))

    def _counted(self, spark: SparkSession) -> int:
        return self._memory.rows(lambda: self._count(spark))


class LatestPair(TablePair):
    """A table pair that keeps each key's latest state (Delta's and Iceberg's engines):
    open the batch, decide it, and have the format commit the accepted changes."""

    def _apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        started = time.monotonic()
        batch = self._open(changes, batch_id, writer_id)
        if isinstance(batch, BatchResult):
            return batch
        now = self._expiry.now()
        before = self._expiry.tombstones_before(now)
        decided = self._decided(changes, batch, before)
        timings: dict[str, float] = {}
        try:
            decision = count(decided, self._keys, self._parts)
            timings["decide_s"] = time.monotonic() - started
            touched = 0
            if decision.accepted:
                touched = self._commit(
                    Accepted(
                        decided.where(F.col(ACCEPTED)),
                        decision.partitions,
                        batch.payload,
                        bounds=batch.bounds,
                        batch=(writer_id, batch_id),
                        at=(now, before),
                        empty=batch.empty,
                    ),
                    timings,
                )
        finally:
            decided.unpersist()
        rows = self._applied(changes.sparkSession, writer_id, batch_id, decision.net_rows)
        timings["total_s"] = time.monotonic() - started
        return decision.result(batch_id, partitions=touched, rows=rows, timings=timings)

    @abstractmethod
    def _commit(self, accepted: Accepted, timings: dict[str, float]) -> int:
        """Write the accepted changes, or insert them into `empty` tables; how many
        partitions that is. `timings` gets each commit's seconds."""

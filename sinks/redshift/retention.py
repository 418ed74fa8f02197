"""Tombstone retention in the warehouse: the SQL fragments and parameters of one batch.

The key table records when the job wrote each tombstone (`_deleted_at`, UTC, the job's
clock: sinks/retention.py). In the batch's transaction:
* the guard treats a tombstone written before the cut-off as absent (its key takes any
  change: the documented trade-off), and the batch's key rows replace it;
* at most once per `SWEEP_EVERY` a batch also deletes every expired tombstone of the
  table: one scan of the key table (Redshift has no index to narrow it), inside the same
  transaction, so a crash rolls it back with the batch.

SCD type 2 (`history_events`): on the same sweeps, the versions closed (`valid_to`, the
source commit time of the change that closed them) before the cut-off leave the history,
and the events that no longer have a version and were followed by a change committed
before the cut-off leave the events table: the latest event of a key always stays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sinks.redshift.statements import Param, Statement
from sinks.retention import Expiry, sql_timestamp
from transforms.names import DELETED, DELETED_AT

__all__ = ["SWEEP_EVERY", "Sweeps", "Times", "history_sweep"]

SWEEP_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class Times:
    """When a batch writes its tombstones, before when they have expired (None: never),
    and whether this batch sweeps the whole key table."""

    now: datetime
    before: datetime | None = None
    sweep_all: bool = False
    history_before: datetime | None = None  # SCD2 versions closed before it have expired

    def or_expired(self, alias: str) -> str:
        """`<held tombstone expired> OR `, or nothing when tombstones never expire."""
        if self.before is None:
            return ""
        written = f"{alias}.{DELETED_AT}"
        return f"({alias}.{DELETED} AND {written} < CAST({{expired_before}} AS TIMESTAMP)) OR "

    def before_param(self) -> Mapping[str, Param]:
        return {} if self.before is None else {"expired_before": sql_timestamp(self.before)}

    def stamp(self) -> str:
        """The `_deleted_at` of a key row written from the accepted changes."""
        return "CASE WHEN _op = 'D' THEN CAST({deleted_at} AS TIMESTAMP) END"

    def now_param(self) -> Mapping[str, Param]:
        return {"deleted_at": sql_timestamp(self.now)}

    def sweep(self, keys_table: str) -> list[Statement]:
        """The DELETE of every expired tombstone of the key table, when this batch sweeps."""
        if not self.sweep_all or self.before is None:
            return []
        return [
            Statement(
                f"DELETE FROM {keys_table} WHERE {DELETED} "
                f"AND {DELETED_AT} < CAST({{expired_before}} AS TIMESTAMP)",
                self.before_param(),
            )
        ]


def history_sweep(
    history: str, events: str, keys: Sequence[str], quote: Callable[[str], str], times: Times
) -> list[Statement]:
    """The DELETEs of expired SCD2 versions and events (qualified, quoted table names),
    when this batch sweeps. Redshift's DELETE takes no alias: the target is named whole."""
    if not times.sweep_all or times.history_before is None:
        return []
    params = {"history_before": sql_timestamp(times.history_before)}
    cut = "CAST({history_before} AS TIMESTAMP)"
    version = " AND ".join(f"h.{quote(k)} = {events}.{quote(k)}" for k in keys)
    same = " AND ".join(f"n.{quote(k)} = {events}.{quote(k)}" for k in keys)
    later = f"(n._seq > {events}._seq OR (n._seq = {events}._seq AND n._pos > {events}._pos))"
    return [
        Statement(f"DELETE FROM {history} WHERE NOT is_current AND valid_to < {cut}", params),
        Statement(
            f"DELETE FROM {events} WHERE NOT EXISTS (SELECT 1 FROM {history} h WHERE {version} "
            f"AND h._pos = {events}._pos) AND EXISTS (SELECT 1 FROM {events} n WHERE {same} "
            f"AND n._commit_ts < {cut} AND {later})",
            params,
        ),
    ]


class Sweeps:
    """One table's retention instants, batch after batch: a batch sweeps when none of this
    engine's batches did for SWEEP_EVERY (a transaction that fails only delays a sweep)."""

    def __init__(self, expiry: Expiry) -> None:
        self._expiry = expiry
        self._swept: datetime | None = None

    def times(self) -> Times:
        now = self._expiry.now()
        before = self._expiry.tombstones_before(now)
        history = self._expiry.history_before(now)
        due = self._swept is None or now - self._swept >= SWEEP_EVERY
        sweep = due and (before is not None or history is not None)
        if sweep:
            self._swept = now
        return Times(now=now, before=before, sweep_all=sweep, history_before=history)

"""When a tombstone or a closed SCD2 version has expired (`target.retention`).

Age is counted on the job's clock from the batch that wrote the tombstone (or closed the
version), not from the source's commit time: a backlog replayed weeks later must still
guard against the late changes it carries, and a source clock can be wrong or absent
(`_commit_ts` may be NULL). The clock is a parameter so that tests move time instead of
waiting.

An expired tombstone no longer counts for the sequence guard anywhere (an older change
of its key is accepted: the documented trade-off), and it is removed from storage in the
same commit as the batch that meets it (docs/operations.md, Retention).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from config.retention import Retention

__all__ = ["Expiry", "sql_timestamp", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def sql_timestamp(moment: datetime) -> str:
    """A UTC instant as the text a SQL `CAST(... AS TIMESTAMP)` reads (no zone)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(frozen=True)
class Expiry:
    """How long tombstones and closed versions count; None: forever."""

    tombstones: timedelta | None = timedelta(days=7)
    history: timedelta | None = None
    clock: Callable[[], datetime] = field(default=utc_now, compare=False)

    @classmethod
    def of(cls, retention: Retention, clock: Callable[[], datetime] = utc_now) -> Expiry:
        return cls(retention.tombstones_after, retention.history_after, clock)

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def tombstones_before(self, now: datetime) -> datetime | None:
        """Tombstones written before this instant have expired."""
        return None if self.tombstones is None else now - self.tombstones

    def history_before(self, now: datetime) -> datetime | None:
        """Versions closed before this instant have expired."""
        return None if self.history is None else now - self.history

"""The contract every engine obeys (docs/design.md, "Sink semantics")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pyspark.sql import DataFrame


@dataclass(frozen=True)
class BatchResult:
    """What one apply did; counts and timings only, never row values."""

    batch_id: int
    skipped: bool = False  # the batch was already committed by this writer
    changes_in: int = 0  # after collapsing to the last change per key
    upserts: int = 0  # accepted by the sequence guard
    deletes: int = 0
    stale: int = 0  # older than what the target holds: ignored
    refreshed: int = 0  # rows of denormalized tables rewritten
    partitions_rewritten: int = 0
    rows_in_table: int | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TextChanges:
    """One table's changes of a batch, typed by one program with other tables' and kept
    as text (transforms/shared_types.py): the rows of `records` whose `_replica` is
    `table`. Only a target that stages text takes them (`Target.stages_text`)."""

    records: DataFrame  # every table's of the program, persisted
    table: str
    columns: tuple[tuple[str, str], ...]  # the target's columns: (name, Spark type)


class Engine(Protocol):
    """Apply canonical changes: keys, payload, `_op`, `_seq`, `_pos`, `_commit_ts`.

    Rules: last change per key wins by (`_seq`, `_pos`); a change older than what
    the target holds is ignored; deletes leave tombstones; a batch is visible
    atomically (or rolls forward after a crash) and re-applying the same
    (writer_id, batch_id) changes nothing.
    """

    location: str  # where users read the table, for the summary

    def recover(self) -> None:
        """Finish or discard whatever a crashed process left half done."""

    def apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        """Apply one micro-batch of changes."""
        ...

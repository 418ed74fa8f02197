"""How many tasks a batch's work takes: as many as its records need, never a task for
nothing. Spark sizes partitions for big data; a stream's batches are mostly small, and
every empty partition costs a task in every stage that reads it."""

from __future__ import annotations

from pyspark.sql import DataFrame

__all__ = ["ROWS_PER_TASK", "compact", "shuffle_partitions"]

ROWS_PER_TASK = 100_000  # a table's records per task of its apply (a few tens of MB)


def compact(frame: DataFrame, rows: int) -> DataFrame:
    """A table's `rows` records in as many partitions as they need (`ROWS_PER_TASK`), never
    more than they have. A table's records are spread over every partition of the batch,
    mostly empty ones when a batch holds many tables, and each partition costs a task in
    every stage of the table's apply (at 200 tables, 17 tasks for a write of a few hundred
    rows, and twice the writes' time) and a cached block (2,600 at 200 tables instead of 200:
    docs/benchmarks.md). Applied before the records are persisted."""
    return frame.coalesce(max(1, -(-rows // ROWS_PER_TASK)))


def shuffle_partitions(rows: int, cores: int, ceiling: int) -> int:
    """A batch's shuffle partitions: as many as its `rows` records need (`ROWS_PER_TASK`),
    at least one per core, at most the session's setting (`ceiling`). A small batch in the
    setting's partitions (4 per core by default) paid a task per empty partition in every
    shuffle: at 1,000 changes/s, about a third of each batch's time (docs/benchmarks.md).
    The stream's session plans without adaptive execution, which would size them itself."""
    return max(1, min(ceiling, max(cores, -(-rows // ROWS_PER_TASK))))

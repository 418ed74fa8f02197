"""The two MERGE statements of a batch and their conditions, with delta-spark's Python API;
into tables that hold nothing, the append that replaces each.

The target is aliased `t` and the source `s`; their conditions are in sinks/merge_scope.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sinks import merge_scope
from transforms.names import OP, POS, SEQ
from transforms.ordering import newer_than

__all__ = ["append", "merge_changes", "merge_keys"]


def merge_changes(table: Any, source: DataFrame, columns: Sequence[str], condition: Column) -> None:
    """Apply accepted changes (`columns` + `_op`): delete, update or insert by `_op`."""
    values = {f"`{c}`": merge_scope.source(c) for c in columns}
    (
        table.alias("t")
        .merge(source.alias("s"), condition)
        .whenMatchedDelete(condition=F.col(f"s.{OP}") == "D")
        .whenMatchedUpdate(set=values)
        .whenNotMatchedInsert(condition=F.col(f"s.{OP}") != "D", values=values)
        .execute()
    )


def merge_keys(
    table: Any,
    source: DataFrame,
    condition: Column,
    *,
    scope: Column,
    expired: Column,
    delete_expired: bool = True,
) -> None:
    """Record the accepted changes in the key table; a held newer state is never replaced
    unless it is an `expired` tombstone. In the same commit, with `delete_expired`, the
    expired tombstones of the other keys within `scope` (target columns only: the batch's
    key range and partitions, so Delta reads no other file) are deleted; without it (the
    caller knows the scope holds none), Delta rewrites only the files the batch's keys
    are in."""
    newer = newer_than(F.col(f"s.{SEQ}"), F.col(f"s.{POS}"), F.col(f"t.{SEQ}"), F.col(f"t.{POS}"))
    merge = (
        table.alias("t")
        .merge(source.alias("s"), condition)
        .whenMatchedUpdateAll(condition=newer | expired)
        .whenNotMatchedInsertAll()
    )
    if delete_expired:
        merge = merge.whenNotMatchedBySourceDelete(condition=scope & expired)
    merge.execute()


def append(path: str, rows: DataFrame) -> None:
    """Add `rows` to the Delta table at `path` (columns by name), in one commit that the
    session's `txnAppId`/`txnVersion` make idempotent like a MERGE's."""
    rows.write.format("delta").mode("append").save(path)

"""The two MERGE statements of a batch and their conditions, with delta-spark's Python API.

The target is aliased `t` and the source `s`. Conditions that name only target columns
(a key range, partition values) are what Delta uses to skip files before it reads any.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from operator import and_
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from transforms.names import OP, POS, SEQ
from transforms.ordering import newer_than

__all__ = ["in_partitions", "merge_changes", "merge_keys", "same_keys", "target", "within"]


def target(name: str) -> Column:
    return F.col(f"t.`{name}`")


def _source(name: str) -> Column:
    return F.col(f"s.`{name}`")


def same_keys(keys: Sequence[str]) -> Column:
    return reduce(and_, [target(k) == _source(k) for k in keys])


def within(column: Column, low: Any, high: Any) -> Column:
    """Between two literal bounds: Delta skips files whose min/max statistics lie outside."""
    return column.between(F.lit(low), F.lit(high))


def in_partitions(partitions: StructType, values: Sequence[Sequence[Any]]) -> Column:
    """The target rows of the listed partitions: one tuple of values per partition.

    One `struct IN (...)` whatever the number of partitions (Spark turns a long list
    into a hash-set look-up); NULL partition values match. No partition: nothing matches.
    """
    if not values:
        return F.lit(False)
    names = partitions.fieldNames()
    listed = [
        F.struct(
            *[
                F.lit(v).cast(f.dataType).alias(f.name)
                for f, v in zip(partitions.fields, row, strict=True)
            ]
        )
        for row in values
    ]
    return F.struct(*[target(n).alias(n) for n in names]).isin(*listed)


def merge_changes(table: Any, source: DataFrame, columns: Sequence[str], condition: Column) -> None:
    """Apply accepted changes (`columns` + `_op`): delete, update or insert by `_op`."""
    values = {f"`{c}`": _source(c) for c in columns}
    (
        table.alias("t")
        .merge(source.alias("s"), condition)
        .whenMatchedDelete(condition=F.col(f"s.{OP}") == "D")
        .whenMatchedUpdate(set=values)
        .whenNotMatchedInsert(condition=F.col(f"s.{OP}") != "D", values=values)
        .execute()
    )


def merge_keys(
    table: Any, source: DataFrame, condition: Column, *, scope: Column, expired: Column
) -> None:
    """Record the accepted changes in the key table; a held newer state is never replaced
    unless it is an `expired` tombstone. In the same commit, the expired tombstones of the
    other keys within `scope` (target columns only: the batch's key range and partitions,
    so Delta reads no other file) are deleted."""
    newer = newer_than(F.col(f"s.{SEQ}"), F.col(f"s.{POS}"), F.col(f"t.{SEQ}"), F.col(f"t.{POS}"))
    (
        table.alias("t")
        .merge(source.alias("s"), condition)
        .whenMatchedUpdateAll(condition=newer | expired)
        .whenNotMatchedInsertAll()
        .whenNotMatchedBySourceDelete(condition=scope & expired)
        .execute()
    )

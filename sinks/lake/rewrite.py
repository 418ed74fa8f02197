"""A rewritten partition's rows, data and key index: what it held, less the rows of the
keys a batch takes away from it, plus the rows the batch brings; pure DataFrame functions.

The key index's rows taken away are named by marks (a key and the partition it was held in), not
found by a join with the batch's keys: Spark runs a broadcast join's build as a Spark
job of its own, and the data rewrite already broadcasts those keys for its own join.
Here the marks travel with the rows through the shuffle that gathers each partition into
one task for its file (files.py `gather`), and a window over (partition, key) inside
that task drops each marked row: the write stays one Spark job. A key is held in one
partition at most, so its mark names every row it has.

Only for the key index: its rows are narrow, and sorting them inside the task costs
about what the broadcast's job did. The data's rows are wide; sorted the same way, a
10,000-change batch on a 1M-row table took 0.2-0.4 s longer (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from sinks.decide import expired, held_at, is_held, key_rows
from transforms.names import OP

__all__ = ["data_rows", "gone", "key_index_rows"]

_TAG, _MARKED = "__replace", "__marked"
_HELD, _GONE, _NEW = 0, 1, 2


def gone(accepted: DataFrame, keys: Sequence[str], parts: Sequence[str]) -> DataFrame:
    """The marks of the rows accepted changes (a `decide` output) take away: the key and
    the partition it was held in."""
    return accepted.where(is_held()).select(
        *[_col(k) for k in keys], *[held_at(keys, p).alias(p) for p in parts if p not in keys]
    )


def data_rows(
    accepted: DataFrame,
    schema: StructType,
    held: DataFrame | None,
    marks: DataFrame,
    keys: Sequence[str],
) -> DataFrame:
    """The published rows of the rewritten partitions: the `held` ones (None: none) whose
    key has no mark, and the accepted upserts, with `schema`'s columns (NULL for a column
    the batch does not carry)."""
    carried = set(accepted.columns)
    new = accepted.where(F.col(OP) != "D").select(
        *[
            _col(f.name) if f.name in carried else F.lit(None).cast(f.dataType).alias(f.name)
            for f in schema.fields
        ]
    )
    if held is None:
        return new
    touched = marks.select(*[_col(k) for k in keys])
    return held.join(touched, list(keys), "left_anti").unionByName(new)


def key_index_rows(  # noqa: PLR0917 (the frames, then what the table is and when)
    accepted: DataFrame,
    held: DataFrame | None,
    marks: DataFrame,
    keys: Sequence[str],
    parts: Sequence[str],
    at: tuple[datetime, datetime | None],
    gather: Callable[[DataFrame], DataFrame],
) -> DataFrame:
    """The key index of the rewritten partitions, gathered: the `held` rows (None: none)
    without a mark or an expired tombstone (written before `at[1]`), and a row for each
    accepted change, tombstones stamped `at[0]`."""
    now, before = at
    new = accepted.transform(key_rows(keys, parts, now))
    if held is None:
        return gather(new)
    return _replaced(held.where(~expired(before)), marks, new, keys, parts, gather)


def _replaced(  # noqa: PLR0917 (the frames, then what the table is)
    held: DataFrame,
    gone: DataFrame,
    new: DataFrame,
    keys: Sequence[str],
    parts: Sequence[str],
    gather: Callable[[DataFrame], DataFrame],
) -> DataFrame:
    """`held` rows without those whose (partition, key) is in `gone` (key and partition
    columns only), plus `new`, gathered by `gather`."""
    rows = (
        held.withColumn(_TAG, F.lit(_HELD))
        .unionByName(gone.withColumn(_TAG, F.lit(_GONE)), allowMissingColumns=True)
        .unionByName(new.withColumn(_TAG, F.lit(_NEW)))
    )
    group = [F.col(f"`{c}`") for c in [*parts, *keys]]
    marked = F.max((F.col(_TAG) == _GONE).cast("int")).over(Window.partitionBy(*group))
    kept = (F.col(_TAG) == _NEW) | ((F.col(_TAG) == _HELD) & (F.col(_MARKED) == 0))
    return gather(rows).withColumn(_MARKED, marked).where(kept).drop(_TAG, _MARKED)


def _col(name: str) -> Column:
    return F.col(f"`{name}`")

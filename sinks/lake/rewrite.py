"""A rewritten partition's rows, data and key index: what it held, less the rows of the
keys a batch takes away from it, plus the rows the batch brings; pure DataFrame functions.

The rows taken away are those of the accepted changes' keys that the table held: a join
with those keys, which Spark broadcasts (a Spark job of its own, in each of the two
writes). Tried and not kept: dropping the key index's rows by marks that travel with
them to the task that writes their partition (a window over partition and key), one job
fewer a batch; sorting the rows in the task cost as much as the broadcast on 10,000-change
batches, and 8% more of the batch on 100,000-change batches (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from sinks.decide import expired, is_held, key_rows
from transforms.names import OP

__all__ = ["data_rows", "key_index_rows", "touched"]


def touched(accepted: DataFrame, keys: Sequence[str]) -> DataFrame:
    """The keys whose held rows accepted changes (a `decide` output) replace or remove."""
    return accepted.where(is_held()).select(*[_col(k) for k in keys])


def data_rows(
    accepted: DataFrame,
    schema: StructType,
    held: DataFrame | None = None,
    gone: DataFrame | None = None,
) -> DataFrame:
    """The published rows of the rewritten partitions: the `held` ones (None: none) whose
    key is not `gone` (`touched`, given with `held`), and the accepted upserts, with
    `schema`'s columns (NULL for a column the batch does not carry)."""
    carried = set(accepted.columns)
    new = accepted.where(F.col(OP) != "D").select(
        *[
            _col(f.name) if f.name in carried else F.lit(None).cast(f.dataType).alias(f.name)
            for f in schema.fields
        ]
    )
    if held is None:
        return new
    assert gone is not None, "held rows are rewritten less the keys a batch takes away"
    return held.join(gone, gone.columns, "left_anti").unionByName(new)


def key_index_rows(
    accepted: DataFrame,
    keys: Sequence[str],
    parts: Sequence[str],
    *,
    at: tuple[datetime, datetime | None],
    held: DataFrame | None = None,
    gone: DataFrame | None = None,
) -> DataFrame:
    """The key index of the rewritten partitions: the `held` rows (None: none) whose key
    is not `gone` (`touched`, given with `held`) and that are not a tombstone written
    before `at[1]` (expired), and a row for each accepted change, tombstones stamped
    `at[0]`."""
    now, before = at
    new = accepted.transform(key_rows(keys, parts, now))
    if held is None:
        return new
    assert gone is not None, "held rows are rewritten less the keys a batch takes away"
    return held.where(~expired(before)).join(gone, gone.columns, "left_anti").unionByName(new)


def _col(name: str) -> Column:
    return F.col(f"`{name}`")

"""Which changes of a batch a file table takes: the one decision core of the lake, Delta
and Iceberg engines, as pure DataFrame functions.

A key table holds, per key, what the published table last took: `_seq`, `_pos`,
`_deleted` (a tombstone), `_deleted_at` (when the job wrote it) and the partition the
key is in: its live row's, or for a tombstone the one its row was deleted from (a
delete of a key never seen: the delete's own values). It is partitioned like the
published table, so a batch reads and rewrites the same partitions in both.

Retention (sinks/retention.py): a tombstone written before `expired_before` no longer
counts: the guard accepts any change of its key, and it stays "held" so that its
partition is rewritten (the key-table row is replaced, never duplicated). `expired`
selects such rows, for the engines to drop them in the batch's own commit.

One batch: `decide` keeps the last change per key with `__accepted` = newer than what
the key table holds (the sequence guard of transforms/ordering.py); `count` tallies it
in one Spark job, and lists in that same job, when asked, the partitions the accepted
changes remove rows from and write to (a row that moves partition is removed from the
old one and written to the new one; so is its key-table row, tombstones included);
`key_rows` is what the key table holds afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, StringType, StructField, StructType, TimestampType

from sinks.base import BatchResult
from transforms.names import ACCEPTED, DELETED, DELETED_AT, HELD, OP, POS, SEQ
from transforms.ordering import latest_per_key, newer_than

__all__ = [
    "Decision",
    "count",
    "decide",
    "decide_first",
    "expired",
    "goes_to",
    "held",
    "held_at",
    "is_held",
    "key_rows",
    "key_schema",
]


def _col(name: str) -> Column:
    return F.col(f"`{name}`")


def _stored_parts(keys: Sequence[str], parts: Sequence[str]) -> list[str]:
    """Partition columns the key table adds to the keys (a key column is not repeated)."""
    return [p for p in parts if p not in keys]


def held_at(keys: Sequence[str], part: str) -> Column:
    """The partition value the target holds the key in (a key column is its own)."""
    return _col(part) if part in keys else F.col(f"{HELD}_{part}")


def is_held() -> Column:
    """True when the target held something for the change's key (a row or a tombstone)."""
    return F.col(f"{HELD}{POS}").isNotNull()


def key_schema(schema: StructType, keys: Sequence[str], parts: Sequence[str]) -> StructType:
    """The key table's columns, for changes of `schema`."""
    return StructType(
        [schema[k] for k in keys]
        + [
            StructField(SEQ, StringType()),
            StructField(POS, StringType()),
            StructField(DELETED, BooleanType()),
            StructField(DELETED_AT, TimestampType()),
        ]
        + [schema[p] for p in _stored_parts(keys, parts)]
    )


def held(keys: Sequence[str], parts: Sequence[str]) -> Callable[[DataFrame], DataFrame]:
    """Key-table rows renamed so that they can sit next to the changes of their key."""

    def transform(key_table: DataFrame) -> DataFrame:
        return key_table.select(
            *[_col(k) for k in keys],
            F.col(SEQ).alias(f"{HELD}{SEQ}"),
            F.col(POS).alias(f"{HELD}{POS}"),
            F.col(DELETED).alias(f"{HELD}{DELETED}"),
            F.col(DELETED_AT).alias(f"{HELD}{DELETED_AT}"),
            *[_col(p).alias(f"{HELD}_{p}") for p in _stored_parts(keys, parts)],
        )

    return transform


def expired(before: datetime | None, prefix: str = "") -> Column:
    """Key-table rows (or `held` ones, prefix HELD) that are tombstones written before
    `before`; never true when `before` is None (tombstones kept forever) or the
    tombstone has no time (written before retention existed)."""
    if before is None:
        return F.lit(False)
    written = F.col(f"{prefix}{DELETED_AT}")
    return F.coalesce(F.col(f"{prefix}{DELETED}") & (written < F.lit(before)), F.lit(False))


def decide(
    keys: Sequence[str], held_rows: DataFrame, expired_before: datetime | None = None
) -> Callable[[DataFrame], DataFrame]:
    """The last change per key, with `__accepted`: newer than what the table holds, or
    what it holds is a tombstone written before `expired_before`.

    `held_rows` is `held(...)` of the key table; a key it lacks was never seen. It is
    first cut down to the batch's keys (a semi-join Spark broadcasts when the batch
    is small), so the key table is scanned but never shuffled. Those keys are taken from
    the changes as they came, not from their last change per key: the same keys, without
    computing that window a second time for the broadcast's own Spark job (5-8% of a
    batch on the engines' benchmark, docs/benchmarks.md).
    """

    def transform(changes: DataFrame) -> DataFrame:
        latest = changes.transform(latest_per_key(keys))
        ours = held_rows.join(changes.select(*[_col(k) for k in keys]), list(keys), "left_semi")
        joined = latest.join(ours, list(keys), "left")
        guard = newer_than(F.col(SEQ), F.col(POS), F.col(f"{HELD}{SEQ}"), F.col(f"{HELD}{POS}"))
        return joined.withColumn(ACCEPTED, guard | expired(expired_before, HELD))

    return transform


def decide_first(
    keys: Sequence[str], parts: Sequence[str] = ()
) -> Callable[[DataFrame], DataFrame]:
    """`decide` into a table that holds nothing (its first batch, a full load): the last
    change per key, every one accepted, the held columns NULL. The same rows and columns
    as `decide` given no held rows, without its two joins: for a database of hundreds of
    tables, building and analysing those joins was a third of a new table's driver time."""

    def transform(changes: DataFrame) -> DataFrame:
        nothing = [
            F.lit(None).cast(StringType()).alias(f"{HELD}{SEQ}"),
            F.lit(None).cast(StringType()).alias(f"{HELD}{POS}"),
            F.lit(None).cast(BooleanType()).alias(f"{HELD}{DELETED}"),
            F.lit(None).cast(TimestampType()).alias(f"{HELD}{DELETED_AT}"),
            *[
                F.lit(None).cast(changes.schema[p].dataType).alias(f"{HELD}_{p}")
                for p in _stored_parts(keys, parts)
            ],
            F.lit(True).alias(ACCEPTED),
        ]
        rest = [c for c in changes.columns if c not in keys]  # as a join on the keys has them
        latest = changes.transform(latest_per_key(keys))
        return latest.select(*[_col(c) for c in [*keys, *rest]], *nothing)

    return transform


@dataclass(frozen=True)
class Decision:
    """What `decide` made of a batch: changes after collapsing per key, and the accepted."""

    changes: int
    upserts: int
    deletes: int
    net_rows: int = 0  # live rows the accepted changes add to the published table (or remove)
    # partition values (in `parts` order) accepted changes remove rows from or write to;
    # listed only when `count` was given the partition columns
    partitions: tuple[tuple[Any, ...], ...] = ()

    @property
    def stale(self) -> int:
        return self.changes - self.upserts - self.deletes

    @property
    def accepted(self) -> int:
        return self.upserts + self.deletes

    def result(
        self, batch_id: int, *, partitions: int, rows: int | None, timings: dict[str, float]
    ) -> BatchResult:
        """The batch's result, as every file engine reports it."""
        return BatchResult(
            batch_id=batch_id,
            changes_in=self.changes,
            upserts=self.upserts,
            deletes=self.deletes,
            stale=self.stale,
            partitions_rewritten=partitions,
            rows_in_table=rows,
            timings=timings,
        )


def count(
    decided: DataFrame,
    keys: Sequence[str] = (),
    parts: Sequence[str] = (),
) -> Decision:
    """Tally a `decide` output in one Spark job; with the table's `keys` and partition
    columns `parts`, list in the same job the partitions the accepted changes touch: where
    each key is and where it goes, as values of the columns' types.

    A key is live when the key table holds it without a tombstone: an accepted upsert of
    a key that is not adds a row, an accepted delete of one that is removes one.
    """
    accepted, delete = F.col(ACCEPTED), F.col(OP) == "D"
    live = is_held() & ~F.coalesce(F.col(f"{HELD}{DELETED}"), F.lit(False))
    touched = []
    if parts:
        where = F.struct(*[held_at(keys, p).alias(p) for p in parts])
        goes = F.struct(*[goes_to(keys, p).alias(p) for p in parts])
        touched = [
            F.collect_set(F.when(accepted & is_held(), where)).alias("old"),
            F.collect_set(F.when(accepted, goes)).alias("new"),
        ]
    row = decided.agg(
        F.count(F.lit(1)).alias("changes"),
        F.sum(F.when(accepted & ~delete, 1).otherwise(0)).alias("up"),
        F.sum(F.when(accepted & delete, 1).otherwise(0)).alias("del"),
        F.sum(
            F.when(accepted & ~delete & ~live, 1).when(accepted & delete & live, -1).otherwise(0)
        ).alias("net"),
        *touched,
    ).first()
    assert row is not None
    partitions = {tuple(p) for p in (row["old"] + row["new"] if parts else [])}
    return Decision(
        int(row["changes"] or 0),
        int(row["up"] or 0),
        int(row["del"] or 0),
        int(row["net"] or 0),
        tuple(partitions),
    )


def goes_to(keys: Sequence[str], part: str) -> Column:
    """The partition value of the key after the change: the upsert's, else where it was."""
    if part in keys:
        return _col(part)
    return (
        F.when(F.col(OP) != "D", _col(part))
        .when(is_held(), held_at(keys, part))
        .otherwise(_col(part))
    )


def key_rows(
    keys: Sequence[str], parts: Sequence[str], now: datetime | None = None
) -> Callable[[DataFrame], DataFrame]:
    """What the key table holds after an accepted change (`decide` output); a tombstone
    records `now`, the start of its retention."""

    def transform(accepted: DataFrame) -> DataFrame:
        return accepted.select(
            *[_col(k) for k in keys],
            F.col(SEQ),
            F.col(POS),
            (F.col(OP) == "D").alias(DELETED),
            F.when(F.col(OP) == "D", F.lit(now)).cast(TimestampType()).alias(DELETED_AT),
            *[goes_to(keys, p).alias(p) for p in _stored_parts(keys, parts)],
        )

    return transform

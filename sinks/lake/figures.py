"""The figures a lake manifest records of each partition a batch writes: live rows,
tombstones, the range of the first key, and when its oldest tombstone was written.

The job that counts a batch's decision (`count_by_partition`) also adds up, per
partition, what the accepted changes do to its key index: a key leaves the partition
it was held in (a live row or a tombstone) and arrives in the one it goes to. The staged
figures are then the previous ones plus these (`settle`), without reading anything
back. Two things need the staged key index read back instead (`read_back`, one Spark
job): a rewritten partition that may hold an expired tombstone (the rewrite drops it,
uncounted), and a first key whose text cannot be compared as its type in Python.

A settled key range is the union of the old range and the keys that arrive: a key that
leaves does not narrow it. It stays a range that holds every key of the partition,
which is all its readers ask of it (which partitions may hold a key); a read back makes
it exact again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DataType,
    DateType,
    DecimalType,
    IntegralType,
    StringType,
    TimestampNTZType,
    TimestampType,
)

from sinks.decide import Decision, goes_to, held_at, is_held
from sinks.lake.files import parquet_names
from sinks.lake.manifest import PartitionEntry
from transforms.names import ACCEPTED, DELETED, DELETED_AT, HELD, OP

__all__ = [
    "Arrivals",
    "Figures",
    "Staged",
    "count_by_partition",
    "entries",
    "micros",
    "read_back",
    "settle",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Staged:
    """What one partition's staged key index holds: the figures of its manifest entry."""

    rows: int  # live keys
    tombstones: int
    min_key: str | None  # of the first key column, as text
    max_key: str | None
    oldest_tombstone: int | None = None  # microseconds since 1970; None: none timed, unknown


@dataclass(frozen=True)
class Arrivals:
    """What a batch's accepted changes do to one partition's key index."""

    rows: int  # live keys it gains (negative: loses)
    tombstones: int
    min_key: str | None  # of the keys that arrive, as text
    max_key: str | None
    deletes: bool  # a tombstone arrives


Figures = dict[tuple[str | None, ...], Staged]  # by partition values as text, `parts` order
Changes = dict[tuple[str | None, ...], Arrivals]


def micros(moment: datetime) -> int:
    """An instant in microseconds since 1970, as the manifest records tombstone times."""
    return (moment.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)


def count_by_partition(
    decided: DataFrame, keys: Sequence[str], parts: Sequence[str]
) -> tuple[Decision, Changes]:
    """Tally a `decide` output in one Spark job, with what its accepted changes do to each
    partition (keyed by the partition values as text, in `parts` order; `()` for an
    unpartitioned table)."""
    accepted, delete = F.col(ACCEPTED), F.col(OP) == "D"
    held_dead = F.coalesce(F.col(f"{HELD}{DELETED}"), F.lit(False))
    first = F.col(f"`{keys[0]}`")
    none = F.lit(None).cast(decided.schema[keys[0]].dataType)

    def entry(kind: int, where: list[Column], live: Column, dead: Column, key: Column) -> Column:
        return F.struct(
            F.lit(kind).alias("kind"),
            *[w.cast("string").alias(f"p{i}") for i, w in enumerate(where)],
            live.cast("int").alias("live"),
            dead.cast("int").alias("dead"),
            key.alias("key"),
        )

    total = entry(0, [F.lit(None) for _ in parts], accepted & ~delete, accepted & delete, none)
    where = [held_at(keys, p) for p in parts]
    leaves = F.when(
        accepted & is_held(),
        entry(1, where, -(~held_dead).cast("int"), -held_dead.cast("int"), none),
    )
    arrives = F.when(accepted, entry(1, [goes_to(keys, p) for p in parts], ~delete, delete, first))
    names = [f"p{i}" for i in range(len(parts))]
    rows = (
        decided.select(F.explode(F.array(total, leaves, arrives)).alias("e"))
        .where(F.col("e").isNotNull())
        .select("e.*")
        .groupBy("kind", *names)
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum("live").alias("live"),
            F.sum("dead").alias("dead"),
            F.min("key").cast("string").alias("lo"),
            F.max("key").cast("string").alias("hi"),
            F.max(F.col("dead") > 0).alias("deletes"),
        )
        .collect()
    )
    return _decision(rows, names)


def _decision(rows: list[Row], names: list[str]) -> tuple[Decision, Changes]:
    totals = [r for r in rows if r["kind"] == 0]
    changes = {
        tuple(r[n] for n in names): Arrivals(
            int(r["live"]), int(r["dead"]), r["lo"], r["hi"], bool(r["deletes"])
        )
        for r in rows
        if r["kind"] == 1
    }
    total = totals[0] if totals else None
    decision = Decision(
        changes=int(total["n"]) if total else 0,
        upserts=int(total["live"]) if total else 0,
        deletes=int(total["dead"]) if total else 0,
        net_rows=sum(c.rows for c in changes.values()),
        partitions=tuple(changes) if names else (),
    )
    return decision, changes


def settle(
    held: dict[str, Staged],
    arrivals: dict[str, Arrivals],
    affected: set[str],
    *,
    key_type: DataType,
    written: datetime,
    expired_before: datetime | None,
) -> dict[str, Staged] | None:
    """The staged figures of the `affected` partitions (by path): what they `held` plus
    what `arrivals` bring, tombstones stamped `written`; None when they must be read back
    (a rewritten partition may hold a tombstone written before `expired_before`, or the
    first key's text cannot be compared in Python)."""
    order = _order(key_type)
    if order is None:
        return None
    if expired_before is not None and any(
        _may_expire(held[p], micros(expired_before)) for p in affected if p in held
    ):
        return None
    figures: dict[str, Staged] = {}
    for path in affected:
        old = held.get(path) or Staged(0, 0, None, None)
        new = arrivals.get(path) or Arrivals(0, 0, None, None, False)
        try:
            low = _pick(min, order, old.min_key, new.min_key)
            high = _pick(max, order, old.max_key, new.max_key)
        except (ValueError, InvalidOperation):  # not the type's text: read it back
            return None
        figures[path] = Staged(
            old.rows + new.rows,
            old.tombstones + new.tombstones,
            low,
            high,
            _oldest(old, new, micros(written)),
        )
    return figures


def _may_expire(figures: Staged, limit: int) -> bool:
    """Whether a partition may hold a tombstone written before `limit`."""
    oldest = figures.oldest_tombstone
    return figures.tombstones > 0 and (oldest is None or oldest < limit)


def _oldest(old: Staged, new: Arrivals, written: int) -> int | None:
    """When the oldest tombstone left after a batch was written: at the latest the oldest
    of those held (some may have left) or the batch's own; None when none is left, or the
    held ones' time is not known."""
    if old.tombstones + new.tombstones == 0 or (old.tombstones and old.oldest_tombstone is None):
        return None
    times = [old.oldest_tombstone] if old.tombstones else []
    return min(
        [t for t in times if t is not None] + ([written] if new.deletes else []), default=None
    )


def _order(key_type: DataType) -> Callable[[str], Any] | None:
    """How key text of `key_type` (Spark's cast to string) compares in Python; None:
    not known here. Dates and timestamps compare as their text."""
    if isinstance(key_type, IntegralType):
        return int
    if isinstance(key_type, DecimalType):
        return Decimal
    if isinstance(key_type, StringType | DateType | TimestampType | TimestampNTZType):
        return str
    return None


def _pick(
    choose: Callable[..., str], order: Callable[[str], Any], a: str | None, b: str | None
) -> str | None:
    present = [v for v in (a, b) if v is not None]
    return choose(present, key=order) if present else None


def read_back(staged: DataFrame, keys: Sequence[str], parts: Sequence[str]) -> Figures:
    """The figures of each partition of a staged key index (one Spark job)."""
    live = ~F.col(DELETED)
    first = F.col(f"`{keys[0]}`")
    rows = (
        staged.groupBy(*[F.col(f"`{p}`").cast("string").alias(p) for p in parts])
        .agg(
            F.sum(F.when(live, 1).otherwise(0)).alias("rows"),
            F.sum(F.when(live, 0).otherwise(1)).alias("tombstones"),
            F.min(first).cast("string").alias("lo"),
            F.max(first).cast("string").alias("hi"),
            F.min(F.when(~live, F.unix_micros(F.col(DELETED_AT)))).alias("oldest"),
        )
        .collect()
    )
    return {
        tuple(r[p] for p in parts): Staged(
            int(r["rows"]), int(r["tombstones"]), r["lo"], r["hi"], r["oldest"]
        )
        for r in rows
    }


def entries(
    figures: Mapping[str, Staged],
    data: Mapping[str, Iterable[str]],
    keys: Mapping[str, Iterable[str]],
) -> dict[str, PartitionEntry]:
    """The manifest entries of staged partitions (by path): their `figures`, and the
    Parquet files of their `data` and `keys` folders (file names by partition path)."""
    return {
        path: PartitionEntry(
            data=tuple(parquet_names(data.get(path, ()))),
            keys=tuple(parquet_names(keys.get(path, ()))),
            rows=staged.rows,
            tombstones=staged.tombstones,
            min_key=staged.min_key,
            max_key=staged.max_key,
            oldest_tombstone=staged.oldest_tombstone,
        )
        for path, staged in figures.items()
    }

"""The figures a lake manifest records of each partition a batch writes: live rows,
tombstones, the range of the first key.

A batch into a table that holds rows reads them back from its staged key index
(`read_back`): the partitions it rewrites keep rows it did not touch. Into an empty
table the staged key index is exactly the accepted changes (one key row each, in the
partition its change goes to, no tombstone expired), so the job that counts the decision
groups them by partition and gives the figures too (`count_into_empty`): a table's full
load, and each table of a database seen for the first time, saves a Spark job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from sinks.decide import Decision
from transforms.names import ACCEPTED, DELETED, OP

__all__ = ["Figures", "Staged", "count_into_empty", "read_back"]


@dataclass(frozen=True)
class Staged:
    """What one partition's staged key index holds: the figures of its manifest entry."""

    rows: int  # live keys
    tombstones: int
    min_key: str | None  # of the first key column, as text
    max_key: str | None


Figures = dict[tuple[str | None, ...], Staged]  # by partition values as text, `parts` order


def count_into_empty(
    decided: DataFrame, keys: Sequence[str], parts: Sequence[str]
) -> tuple[Decision, Figures]:
    """Tally a `decide` output of a batch into a table that holds no key, with the
    statistics of each partition it writes (keyed by the partition values as text, in
    `parts` order; `()` for an unpartitioned table)."""
    accepted, delete = F.col(ACCEPTED), F.col(OP) == "D"
    rows = _by_partition(
        decided,
        keys,
        parts,
        accepted,
        F.count(F.lit(1)).alias("changes"),
        F.sum(F.when(accepted & ~delete, 1).otherwise(0)).alias("up"),
        F.sum(F.when(accepted & delete, 1).otherwise(0)).alias("del"),
    )
    staged = {
        tuple(r[p] for p in parts): Staged(int(r["up"] or 0), int(r["del"] or 0), r["lo"], r["hi"])
        for r in rows
        if r["up"] or r["del"]
    }
    upserts = sum(s.rows for s in staged.values())
    decision = Decision(
        changes=sum(int(r["changes"] or 0) for r in rows),
        upserts=upserts,
        deletes=sum(s.tombstones for s in staged.values()),
        net_rows=upserts,  # nothing was live: every accepted upsert adds a row
        partitions=tuple(staged) if parts else (),
    )
    return decision, staged


def read_back(staged: DataFrame, keys: Sequence[str], parts: Sequence[str]) -> Figures:
    """The figures of each partition of a staged key index (one Spark job)."""
    live = ~F.col(DELETED)
    rows = _by_partition(
        staged,
        keys,
        parts,
        F.lit(True),
        F.sum(F.when(live, 1).otherwise(0)).alias("rows"),
        F.sum(F.when(live, 0).otherwise(1)).alias("tombstones"),
    )
    return {
        tuple(r[p] for p in parts): Staged(int(r["rows"]), int(r["tombstones"]), r["lo"], r["hi"])
        for r in rows
    }


def _by_partition(
    frame: DataFrame, keys: Sequence[str], parts: Sequence[str], counted: Column, *columns: Column
) -> list[Row]:
    """`frame` grouped by partition (its values as text), with `columns` and the range of
    the first key (`lo`, `hi`) over the rows where `counted` holds: one Spark job."""
    first = F.when(counted, F.col(f"`{keys[0]}`"))
    grouped = frame.groupBy(*[F.col(f"`{p}`").cast("string").alias(p) for p in parts])
    return grouped.agg(
        *columns, F.min(first).cast("string").alias("lo"), F.max(first).cast("string").alias("hi")
    ).collect()

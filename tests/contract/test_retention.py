"""Retention of tombstones, every engine: the trade-off of Delta Live Tables' tombstone GC
threshold, both sides of it. A late change older than a delete is refused while the
delete's tombstone is retained; once the tombstone expired, the same late change brings
the row back. Time moves by an injected clock, never by sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyiceberg.table import StaticTable
from pyspark.sql import SparkSession

from sinks.delta import DeltaEngine
from sinks.iceberg import IcebergEngine
from sinks.lake import LakeEngine
from sinks.redshift import ConnectionSettings, WarehouseEngine
from sinks.redshift.statements import Statement
from sinks.retention import Expiry
from tests.contract.targets import (
    Target,
    delta_target,
    iceberg_target,
    lake_target,
    warehouse_target,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WEEK = timedelta(days=7)


class Clock:
    """The engines' clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


Make = Callable[[Expiry], Target]


@pytest.fixture(params=["lake", "delta", "iceberg", "warehouse"])
def make(request: pytest.FixtureRequest, spark: SparkSession, tmp_path: Path) -> Make:
    if request.param == "lake":
        return lambda expiry: lake_target(spark, tmp_path, expiry)
    if request.param == "delta":
        return lambda expiry: delta_target(spark, tmp_path, expiry=expiry)
    if request.param == "iceberg":
        return lambda expiry: iceberg_target(spark, tmp_path, expiry=expiry)
    settings: ConnectionSettings = request.getfixturevalue("postgres")
    return lambda expiry: warehouse_target(spark, settings, expiry=expiry)


def _deleted_then_late(make: Make, clock: Clock, wait: timedelta, keep: timedelta | None) -> Target:
    t = make(Expiry(tombstones=keep, clock=clock))
    t.apply([(1, "a", 1, "I", "1", "p1"), (2, "b", 1, "I", "1", "p2")], 0)
    t.apply([(1, None, None, "D", "5", "p3")], 1)
    clock.advance(wait)
    return t


def test_late_change_older_than_a_retained_tombstone_is_refused(make: Make) -> None:
    clock = Clock()
    t = _deleted_then_late(make, clock, WEEK - timedelta(hours=1), WEEK)
    late = t.apply([(1, "late", 1, "U", "3", "p4")], 2)
    assert (late.upserts, late.stale) == (0, 1)
    assert t.read() == {(2, "b", 1)}


def test_late_change_after_its_tombstone_expired_resurrects_the_row(make: Make) -> None:
    """The documented trade-off: the delete is forgotten, the older change wins."""
    clock = Clock()
    t = _deleted_then_late(make, clock, WEEK + timedelta(hours=1), WEEK)
    late = t.apply([(1, "late", 3, "U", "3", "p4")], 2)
    assert (late.upserts, late.stale) == (1, 0)
    assert t.read() == {(1, "late", 3), (2, "b", 1)}
    again = t.apply([(1, "older", 3, "U", "2", "p5")], 3)
    assert again.stale == 1  # the resurrected row is guarded again like any row


def test_null_retention_keeps_tombstones_forever(make: Make) -> None:
    clock = Clock()
    t = _deleted_then_late(make, clock, timedelta(days=3650), None)
    assert t.apply([(1, "late", 1, "U", "3", "p4")], 2).stale == 1
    assert t.read() == {(2, "b", 1)}


def _tombstones(t: Target) -> int:
    """Tombstones the engine's state holds (what it keeps on storage)."""
    engine = t.engine
    if isinstance(engine, LakeEngine):
        return sum(e.tombstones for e in engine.manifest.partitions.values())
    if isinstance(engine, DeltaEngine):
        state = t.spark.read.format("delta").load(engine.state_path)
        return state.where("_deleted").count()
    if isinstance(engine, IcebergEngine):
        metadata = Path(engine.location + "__cdc_keys") / "metadata"
        current = (
            metadata / f"v{(metadata / 'version-hint.text').read_text().strip()}.metadata.json"
        )
        scan = StaticTable.from_metadata(str(current)).scan(row_filter="_cdc_deleted == true")
        return len(scan.to_arrow())
    assert isinstance(engine, WarehouseEngine)
    table = engine.location.rsplit(".", 1)[1]
    keys = Statement(f'SELECT COUNT(*) FROM public."{table}__cdc_keys" WHERE _deleted')
    return int(engine.executor.query(keys)[0][0])


def test_expired_tombstones_leave_the_state_in_the_commit_of_a_batch_that_reaches_them(
    make: Make,
) -> None:
    """Lake: the partitions a batch rewrites; Delta: its key range and partitions;
    warehouse: the whole key table, at most hourly. Retained ones stay."""
    clock = Clock()
    t = make(Expiry(tombstones=WEEK, clock=clock))
    t.apply(
        [(1, "a", 1, "I", "1", "p1"), (2, "b", 1, "I", "1", "p2"), (3, "c", 1, "I", "1", "p3")], 0
    )
    t.apply([(1, None, None, "D", "2", "p4"), (2, None, None, "D", "2", "p5")], 1)
    assert _tombstones(t) == 2
    clock.advance(timedelta(days=6))
    t.apply([(0, "z", 1, "I", "3", "p6"), (3, "c2", 1, "U", "3", "p7")], 2)
    assert _tombstones(t) == 2
    clock.advance(timedelta(days=2))
    t.apply([(0, "z2", 1, "U", "4", "p8"), (3, "c3", 1, "U", "4", "p9")], 3)
    assert _tombstones(t) == 0
    assert t.read() == {(0, "z2", 1), (3, "c3", 1)}

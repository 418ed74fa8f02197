"""SCD type 2 `history_events`: versions closed before the retention leave the history
with their events, in the batch's own commits; the rest of the history stays. Delta,
Iceberg and warehouse (the engines that keep history)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sinks.delta.history import DeltaHistoryEngine
from sinks.iceberg import IcebergHistoryEngine
from sinks.iceberg.merge import STORED
from sinks.redshift import ConnectionSettings, WarehouseEngine
from sinks.redshift.statements import Statement
from sinks.retention import Expiry
from tests.contract.targets import (
    Target,
    delta_target,
    iceberg_rows,
    iceberg_target,
    warehouse_target,
)

SCHEMA = "id int, name string, _op string, _seq string, _pos string, _commit_ts timestamp"
NOW = datetime(2026, 1, 10, tzinfo=UTC)
Make = Callable[[Expiry], Target]


def _day(day: int) -> datetime:
    return datetime(2026, 1, day, 12, 0)


def _apply(t: Target) -> None:
    rows = [
        (1, "v1", "I", "1", "p1", _day(1)),
        (1, "v2", "U", "2", "p2", _day(2)),  # closes v1 on the 2nd: expired
        (1, "v3", "U", "3", "p3", _day(9)),  # closes v2 on the 9th: retained
        (2, "w1", "I", "1", "p4", _day(1)),
        (2, None, "D", "2", "p5", _day(2)),  # closes w1 on the 2nd: expired
    ]
    t.engine.apply(t.spark.createDataFrame(rows, SCHEMA), 0, "w")


def _read(t: Target, columns: str, events: bool = False) -> set[tuple[object, ...]]:
    """Rows of the history (or of its events table), as tuples of `columns`."""
    engine = t.engine
    if isinstance(engine, DeltaHistoryEngine):
        path = engine.state_path if events else engine.path
        rows = t.spark.read.format("delta").load(path).selectExpr(*columns.split(", "))
        return {tuple(r) for r in rows.collect()}
    if isinstance(engine, IcebergHistoryEngine):  # PyIceberg, under the stored names
        name = engine.events_table if events else engine.table
        stored = [STORED.get(c, c) for c in columns.split(", ")]
        return iceberg_rows(Path(engine.location).parent / name, stored)
    assert isinstance(engine, WarehouseEngine)
    table = engine.location.rsplit(".", 1)[1] + ("__cdc_events" if events else "")
    return set(engine.executor.query(Statement(f'SELECT {columns} FROM public."{table}"')))


@pytest.fixture(params=["delta", "iceberg", "warehouse"])
def make(request: pytest.FixtureRequest, spark: SparkSession, tmp_path: Path) -> Make:
    if request.param == "delta":
        return lambda expiry: delta_target(spark, tmp_path, scd_type=2, expiry=expiry)
    if request.param == "iceberg":
        return lambda expiry: iceberg_target(spark, tmp_path, expiry=expiry, scd_type=2)
    settings: ConnectionSettings = request.getfixturevalue("postgres")
    return lambda expiry: warehouse_target(spark, settings, scd_type=2, expiry=expiry)


def test_versions_closed_before_the_retention_leave_history_and_events(make: Make) -> None:
    t = make(Expiry(history=timedelta(days=5), clock=lambda: NOW))
    _apply(t)
    assert _read(t, "id, name, is_current") == {(1, "v2", False), (1, "v3", True)}
    assert _read(t, "id, _pos", events=True) == {
        (1, "p2"),
        (1, "p3"),
        (2, "p5"),  # a key's latest event always stays: the delete is remembered
    }


def test_history_is_kept_whole_by_default(make: Make) -> None:
    t = make(Expiry(clock=lambda: NOW))
    _apply(t)
    assert len(_read(t, "id, _pos")) == 4
    assert len(_read(t, "id, _pos", events=True)) == 5

"""`status` counts rows and tombstones from each engine's own bookkeeping, as applied."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from runtime.status_targets import delta_counts, iceberg_counts, lake_counts, warehouse_counts
from sinks.delta import DeltaEngine
from sinks.iceberg import IcebergEngine
from sinks.lake import LakeEngine
from sinks.redshift import ConnectionSettings, WarehouseEngine
from sinks.redshift.connection import DriverExecutor
from tests.contract.targets import (
    Target,
    delta_target,
    iceberg_target,
    lake_target,
    warehouse_target,
)

CHANGES: list[list[tuple[object, ...]]] = [
    [(1, "a", 1, "I", "1", "p1"), (2, "b", 1, "I", "1", "p2"), (3, "c", 2, "I", "1", "p3")],
    [(1, None, None, "D", "2", "p4"), (3, None, None, "D", "2", "p5"), (4, "d", 2, "I", "1", "p6")],
    [(3, "back", 2, "I", "3", "p7")],  # a deleted key comes back: no longer a tombstone
]


def applied(target: Target) -> Target:
    for batch_id, rows in enumerate(CHANGES):
        target.apply(rows, batch_id)
    return target


def test_lake_counts_come_from_its_manifest(spark: SparkSession, tmp_path: Path) -> None:
    target = lake_target(spark, tmp_path)
    assert isinstance(target.engine, LakeEngine)
    assert lake_counts(spark, target.engine.path) == (None, None)  # not written yet
    applied(target)
    assert lake_counts(spark, target.engine.path) == (len(target.read()), 1) == (3, 1)


def test_delta_counts_come_from_the_table_and_its_key_table(
    spark: SparkSession, tmp_path: Path
) -> None:
    target = delta_target(spark, tmp_path)
    assert isinstance(target.engine, DeltaEngine)
    assert delta_counts(spark, target.engine.path) == (None, None)
    applied(target)
    assert delta_counts(spark, target.engine.path) == (3, 1)
    assert delta_counts(spark, target.engine.path, history=True) == (3, None)


def test_iceberg_counts_come_from_the_table_and_its_key_table(
    spark: SparkSession, tmp_path: Path
) -> None:
    target = iceberg_target(spark, tmp_path)
    engine = target.engine
    assert isinstance(engine, IcebergEngine)
    warehouse = str(tmp_path / f"iceberg-{engine.catalog.name.removeprefix('iceberg_')}")
    assert iceberg_counts(spark, engine.catalog, warehouse, "t", history=False) == (None, None)
    applied(target)
    counts = iceberg_counts(spark, engine.catalog, warehouse, "t", history=False)
    assert counts == (len(target.read()), 1) == (3, 1)
    assert iceberg_counts(spark, engine.catalog, warehouse, "t", history=True) == (3, None)


@pytest.mark.parametrize("history", [False, True])
def test_warehouse_counts_come_from_the_table_and_its_keys(
    spark: SparkSession, postgres: ConnectionSettings, history: bool
) -> None:
    target = warehouse_target(spark, postgres, scd_type=2 if history else 1)
    engine = target.engine
    assert isinstance(engine, WarehouseEngine)
    executor = DriverExecutor(postgres)
    applied(target)
    table = engine.location.rsplit(".", 1)[-1].strip('"')
    rows, tombstones = warehouse_counts(executor, "public", table, history=history)
    # SCD type 2: the table holds every version of a row (a delete closes one, a key
    # deleted and back has two)
    assert rows == len(target.read()) == (5 if history else 3)
    assert tombstones == (None if history else 1)
    assert warehouse_counts(executor, "public", "never_written", history=False) == (None, None)

"""SCD type 2, one contract for the engines that keep history (Delta, Iceberg, warehouse).

A change is (id, name, seq, pos, op); its commit time is second `seq` of a fixed
minute, so a version reads back as (id, name, valid_from s, valid_to s, is_current).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from sinks.base import BatchResult
from sinks.redshift import ConnectionSettings
from tests.contract.targets import (
    Target,
    delta_target,
    iceberg_rows,
    iceberg_target,
    second_of,
    warehouse_target,
)

SCHEMA = "id int, name string, _op string, _seq string, _pos string, _commit_ts timestamp"
Version = tuple[int, str | None, int | None, int | None, bool]
Change = tuple[int, str | None, str | None, str, str]  # id, name, seq, pos, op


class History:
    def __init__(self, target: Target, read: Callable[[], set[Version]]) -> None:
        self.target, self.read = target, read

    def apply(self, changes: Sequence[Change], batch_id: int, writer: str = "w") -> BatchResult:
        rows = [
            (i, name, op, seq, pos, _at(int(seq)) if seq is not None else _at(59))
            for i, name, seq, pos, op in changes
        ]
        df = self.target.spark.createDataFrame(rows, SCHEMA)
        return self.target.engine.apply(df, batch_id, writer)


def _at(second: int) -> dt.datetime:
    return dt.datetime(2024, 5, 1, 12, 0, second)


def _delta(spark: SparkSession, root: Path) -> History:
    target = delta_target(spark, root, scd_type=2)
    path = target.engine.location

    def read() -> set[Version]:
        df = spark.read.format("delta").load(path)
        rows = df.select(
            "id", "name", F.second("valid_from"), F.second("valid_to"), "is_current"
        ).collect()
        return {tuple(r) for r in rows}

    return History(target, read)


def _iceberg(spark: SparkSession, root: Path) -> History:
    """Read by PyIceberg from the history's current metadata file, not by Spark."""
    target = iceberg_target(spark, root, scd_type=2)
    table = Path(target.engine.location)

    def read() -> set[Version]:
        rows = iceberg_rows(table, ("id", "name", "valid_from", "valid_to", "is_current"))
        return {cast(Version, (i, n, second_of(f), second_of(t), c)) for i, n, f, t, c in rows}

    return History(target, read)


def _warehouse(spark: SparkSession, settings: ConnectionSettings) -> History:
    target = warehouse_target(spark, settings, scd_type=2)
    table = target.engine.location.rsplit(".", 1)[1]

    def read() -> set[Version]:
        with settings.connect() as conn:
            cur = conn.cursor()
            cur.execute(
                "SELECT id, name, EXTRACT(SECOND FROM valid_from)::int, "
                f'EXTRACT(SECOND FROM valid_to)::int, is_current FROM public."{table}"'
            )
            return {tuple(r) for r in cur.fetchall()}

    return History(target, read)


@pytest.fixture(params=["delta", "iceberg", "warehouse"])
def make(
    request: pytest.FixtureRequest, spark: SparkSession, tmp_path: Path
) -> Callable[[], History]:
    if request.param == "delta":
        return lambda: _delta(spark, tmp_path)
    if request.param == "iceberg":
        return lambda: _iceberg(spark, tmp_path)
    settings: ConnectionSettings = request.getfixturevalue("postgres")
    return lambda: _warehouse(spark, settings)


def test_each_change_is_a_version_closed_by_the_next(make: Callable[[], History]) -> None:
    h = make()
    h.apply([(1, "a", "1", "p1", "I"), (2, "x", "1", "p2", "I")], 0)
    h.apply([(1, "b", "2", "p3", "U"), (1, "c", "3", "p4", "U")], 1)
    assert h.read() == {
        (1, "a", 1, 2, False),
        (1, "b", 2, 3, False),
        (1, "c", 3, None, True),
        (2, "x", 1, None, True),
    }


def test_a_delete_closes_the_current_version_and_adds_none(make: Callable[[], History]) -> None:
    h = make()
    h.apply([(1, "a", "1", "p1", "I")], 0)
    h.apply([(1, None, "4", "p2", "D")], 1)
    assert h.read() == {(1, "a", 1, 4, False)}


def test_a_late_change_is_inserted_in_the_middle_of_history(make: Callable[[], History]) -> None:
    h = make()
    h.apply([(1, "a", "1", "p1", "I"), (1, "c", "3", "p2", "U")], 0)
    h.apply([(1, "b", "2", "p3", "U")], 1)
    assert h.read() == {(1, "a", 1, 2, False), (1, "b", 2, 3, False), (1, "c", 3, None, True)}


def test_a_late_update_after_a_delete_does_not_resurrect(make: Callable[[], History]) -> None:
    h = make()
    h.apply([(1, "a", "1", "p1", "I"), (1, None, "5", "p2", "D")], 0)
    h.apply([(1, "late", "3", "p3", "U")], 1)
    assert h.read() == {(1, "a", 1, 3, False), (1, "late", 3, 5, False)}


def test_delete_then_newer_reinsert_starts_a_current_version(make: Callable[[], History]) -> None:
    h = make()
    h.apply([(1, "a", "1", "p1", "I")], 0)
    h.apply([(1, None, "2", "p2", "D"), (1, "again", "3", "p3", "I")], 1)
    assert h.read() == {(1, "a", 1, 2, False), (1, "again", 3, None, True)}


def test_equal_sequence_values_are_ordered_by_position(make: Callable[[], History]) -> None:
    h = make()
    h.apply([(1, "second", "1", "p2", "U"), (1, "first", "1", "p1", "I")], 0)
    assert h.read() == {(1, "first", 1, 1, False), (1, "second", 1, None, True)}


def test_the_same_batch_twice_or_by_another_writer_adds_nothing(
    make: Callable[[], History],
) -> None:
    h = make()
    batch: list[Change] = [(1, "a", "1", "p1", "I"), (1, "b", "2", "p2", "U")]
    h.apply(batch, 0)
    assert h.apply(batch, 0).skipped
    replay = h.apply(batch, 0, writer="another")
    assert (replay.upserts, replay.deletes, replay.stale) == (0, 0, 2)
    assert h.read() == {(1, "a", 1, 2, False), (1, "b", 2, None, True)}


def test_batches_out_of_order_converge(make: Callable[[], History]) -> None:
    in_order, reversed_ = make(), make()
    first: list[Change] = [(1, "a", "1", "p1", "I"), (2, "x", "1", "p2", "I")]
    second: list[Change] = [(1, "b", "2", "p3", "U"), (2, None, "3", "p4", "D")]
    in_order.apply(first, 0)
    in_order.apply(second, 1)
    reversed_.apply(second, 0)
    reversed_.apply(first, 1)
    assert (
        in_order.read()
        == reversed_.read()
        == {(1, "a", 1, 2, False), (1, "b", 2, None, True), (2, "x", 1, 3, False)}
    )


def test_a_change_without_sequence_follows_what_arrived_before_it(
    make: Callable[[], History],
) -> None:
    """A seed-style delete carries only its key: it closes the version held when it came."""
    h = make()
    h.apply([(1, "a", "1", "p1", "I"), (1, "b", "2", "p2", "U")], 0)
    h.apply([(1, None, None, "p3", "D")], 1)
    assert h.read() == {(1, "a", 1, 2, False), (1, "b", 2, 59, False)}

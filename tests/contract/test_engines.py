"""One contract, every engine: the same scenarios must end in the same table.

Changes are given in canonical form (keys, payload, _op, _seq, _pos); each engine
is read back the way its users read it (Parquet files; a Delta reader; PyIceberg; SQL on
the warehouse).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sinks.redshift import ConnectionSettings
from tests.contract.targets import (
    BOOKKEEPING,
    Target,
    delta_target,
    iceberg_target,
    lake_target,
    warehouse_target,
)


@pytest.fixture(params=["lake", "delta", "iceberg", "warehouse"])
def make(
    request: pytest.FixtureRequest, spark: SparkSession, tmp_path: Path
) -> Callable[[], Target]:
    if request.param == "lake":
        return lambda: lake_target(spark, tmp_path)
    if request.param == "delta":
        return lambda: delta_target(spark, tmp_path)
    if request.param == "iceberg":
        return lambda: iceberg_target(spark, tmp_path)
    settings: ConnectionSettings = request.getfixturevalue("postgres")
    return lambda: warehouse_target(spark, settings)


def test_inserts(make: Callable[[], Target]) -> None:
    t = make()
    result = t.apply([(1, "a", 1, "I", "1", "p1"), (2, "b", 2, "I", "1", "p2")], 0)
    assert (result.upserts, result.deletes, result.stale) == (2, 0, 0)
    assert t.read() == {(1, "a", 1), (2, "b", 2)}


def test_updates_including_one_that_moves_partition(make: Callable[[], Target]) -> None:
    t = make()
    t.apply([(1, "a", 1, "I", "1", "p1"), (2, "b", 2, "I", "1", "p2")], 0)
    t.apply([(1, "a2", 1, "U", "2", "p3"), (2, "moved", 9, "U", "2", "p4")], 1)
    assert t.read() == {(1, "a2", 1), (2, "moved", 9)}


def test_delete_then_late_older_update_does_not_resurrect(make: Callable[[], Target]) -> None:
    t = make()
    t.apply([(1, "a", 1, "I", "1", "p1"), (2, "b", 1, "I", "1", "p2")], 0)
    t.apply([(1, None, None, "D", "5", "p3")], 1)
    late = t.apply([(1, "late", 1, "U", "3", "p4")], 2)
    assert late.stale == 1
    assert t.read() == {(2, "b", 1)}


def test_delete_then_newer_reinsert_brings_the_row_back(make: Callable[[], Target]) -> None:
    t = make()
    t.apply([(1, "a", 1, "I", "1", "p1")], 0)
    t.apply([(1, None, None, "D", "2", "p2")], 1)
    t.apply([(1, "again", 3, "I", "3", "p3")], 2)
    assert t.read() == {(1, "again", 3)}


def test_delete_without_sequence_is_ordered_by_position_across_batches(
    make: Callable[[], Target],
) -> None:
    """DMS deletes carry only the key; a file of earlier position may come later."""
    t = make()
    t.apply([(1, "a", 1, "I", "5", "p1"), (2, "b", 1, "I", "5", "p1b")], 0)
    t.apply([(1, None, None, "D", None, "p5")], 1)
    assert t.apply([(1, "before-delete", 2, "U", "6", "p3")], 2).stale == 1
    t.apply([(2, "b2", 1, "U", "6", "p6"), (2, None, None, "D", None, "p7")], 3)
    assert t.read() == set()
    t.apply([(1, "back", 4, "I", "1", "p8")], 4)
    assert t.read() == {(1, "back", 4)}


def test_several_changes_of_one_key_with_equal_sequence_pick_the_last(
    make: Callable[[], Target],
) -> None:
    t = make()
    t.apply(
        [
            (1, "first", 1, "I", "7", "p1"),
            (1, "third", 3, "U", "7", "p3"),
            (1, "second", 2, "U", "7", "p2"),
        ],
        0,
    )
    assert t.read() == {(1, "third", 3)}


def test_same_batch_applied_twice_changes_nothing(make: Callable[[], Target]) -> None:
    t = make()
    batch = [(1, "a", 1, "I", "1", "p1")]
    t.apply(batch, 0)
    t.apply([(1, "b", 1, "U", "2", "p2")], 1)
    again = t.apply(batch, 0)
    assert again.skipped
    assert t.read() == {(1, "b", 1)}


def test_replay_by_a_new_writer_is_stale_not_duplicated(make: Callable[[], Target]) -> None:
    t = make()
    first = [(1, "a", 1, "I", "1", "p1"), (1, "a2", 1, "U", "2", "p2")]
    t.apply(first, 0, "old-checkpoint")
    replay = t.apply(first, 0, "new-checkpoint")
    assert (replay.skipped, replay.stale, replay.upserts) == (False, 1, 0)
    assert t.read() == {(1, "a2", 1)}


def test_batches_applied_out_of_order_converge(make: Callable[[], Target]) -> None:
    batches: list[list[tuple[object, ...]]] = [
        [(1, "a", 1, "I", "1", "p1"), (2, "b", 1, "I", "1", "p2")],
        [(1, "a2", 2, "U", "2", "p3"), (3, "c", 3, "I", "2", "p4")],
        [(2, None, None, "D", "3", "p5"), (1, "a3", 1, "U", "3", "p6")],
    ]
    forward, backward = make(), make()
    for i, b in enumerate(batches):
        forward.apply(b, i)
    for i, b in enumerate(reversed(batches)):
        backward.apply(b, i)
    assert forward.read() == backward.read() == {(1, "a3", 1), (3, "c", 3)}


def test_null_and_empty_strings_stay_distinct(make: Callable[[], Target]) -> None:
    t = make()
    t.apply([(1, None, 1, "I", "1", "p1"), (2, "", 1, "I", "1", "p2")], 0)
    assert t.read() == {(1, None, 1), (2, "", 1)}


def test_unicode_survives(make: Callable[[], Target]) -> None:
    t = make()
    names = ["Côte d'Ivoire", "São Tomé", "東京", "emoji 🎟️", 'quote " and, comma']
    t.apply([(i, n, 1, "I", "1", f"p{i}") for i, n in enumerate(names)], 0)
    assert t.read() == {(i, n, 1) for i, n in enumerate(names)}


def test_a_new_source_column_is_added_and_older_rows_read_it_as_null(
    make: Callable[[], Target],
) -> None:
    """The source table gains a column: later batches carry it, untouched rows show NULL."""
    t = make()
    t.apply(
        [(1, "a", 1, "I", "1", "p1"), (2, "b", 2, "I", "1", "p2"), (3, "c", 3, "I", "1", "p3")], 0
    )
    wider = f"id int, name string, day int, note string, {BOOKKEEPING}"
    t.apply(
        [
            (2, "b2", 2, "noted", "U", "2", "p4"),
            (3, None, None, None, "D", "2", "p5"),
            (4, "d", 4, "", "I", "2", "p6"),
        ],
        1,
        schema=wider,
    )
    assert t.read(("id", "name", "day", "note")) == {
        (1, "a", 1, None),
        (2, "b2", 2, "noted"),
        (4, "d", 4, ""),
    }


def test_a_widened_column_keeps_its_values_and_takes_wider_ones(
    make: Callable[[], Target],
) -> None:
    """The source widens a column (int -> bigint): older rows keep their values, and a value
    only the wider type holds arrives whole."""
    t = make()
    narrow = f"id int, name string, day int, qty int, {BOOKKEEPING}"
    t.apply([(1, "a", 1, 5, "I", "1", "p1"), (2, "b", 2, 6, "I", "1", "p2")], 0, schema=narrow)
    wide = f"id int, name string, day int, qty bigint, {BOOKKEEPING}"
    t.apply([(2, "b", 2, 2**40, "U", "2", "p3"), (3, "c", 3, 7, "I", "2", "p4")], 1, schema=wide)

    assert t.read(("id", "qty")) == {(1, 5), (2, 2**40), (3, 7)}

"""The lake's settled figures (sinks/lake/figures.py `settle`): key ranges compared as
their type, and the cases that must be read back instead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pyspark.sql.types import BinaryType, DataType, DecimalType, LongType, StringType

from sinks.lake.figures import Arrivals, Staged, micros, settle

NOW = datetime(2026, 3, 1, tzinfo=UTC)
LONG = LongType()


def settled(
    held: Staged | None,
    arrives: Arrivals | None,
    key_type: DataType = LONG,
    expired_before: datetime | None = None,
) -> Staged | None:
    out = settle(
        {"p": held} if held else {},
        {"p": arrives} if arrives else {},
        {"p"},
        key_type=key_type,
        written=NOW,
        expired_before=expired_before,
    )
    return None if out is None else out["p"]


def test_ranges_widen_by_the_arriving_keys_compared_as_numbers_not_text() -> None:
    out = settled(Staged(3, 0, "9", "90"), Arrivals(2, 0, "10", "100", False))
    assert out == Staged(5, 0, "9", "100")
    decimals = settled(
        Staged(1, 0, "9.50", "9.50"), Arrivals(1, 0, "10.25", "10.25", False), DecimalType(6, 2)
    )
    assert decimals is not None and (decimals.min_key, decimals.max_key) == ("9.50", "10.25")
    text = settled(Staged(1, 0, "b", "b"), Arrivals(1, 0, "a", "ab", False), StringType())
    assert text is not None and (text.min_key, text.max_key) == ("a", "b")


def test_leaving_keys_and_tombstones_are_counted_and_a_new_partition_starts_from_nothing() -> None:
    day_ago = micros(NOW - timedelta(days=1))
    out = settled(Staged(4, 2, "1", "8", day_ago), Arrivals(-2, 1, None, None, True))
    assert out == Staged(2, 3, "1", "8", day_ago)
    assert settled(Staged(4, 0, "1", "8"), Arrivals(-1, 1, None, None, True)) == Staged(
        3, 1, "1", "8", micros(NOW)
    )
    assert settled(None, Arrivals(3, 0, "5", "7", False)) == Staged(3, 0, "5", "7", None)


def test_the_oldest_tombstone_is_kept_or_taken_from_the_batch() -> None:
    old = micros(NOW - timedelta(days=2))
    kept = settled(Staged(1, 1, "1", "2", old), Arrivals(0, 1, "3", "3", True))
    assert kept is not None and kept.oldest_tombstone == old
    gone = settled(Staged(1, 1, "1", "2", old), Arrivals(1, -1, "2", "2", False))
    assert gone is not None and gone.oldest_tombstone is None  # no tombstone left
    unknown = settled(Staged(1, 1, "1", "2", None), Arrivals(0, 1, "3", "3", True))
    assert unknown is not None and unknown.oldest_tombstone is None  # still not known


def test_a_partition_that_may_hold_an_expired_tombstone_must_be_read_back() -> None:
    week_ago = NOW - timedelta(days=7)
    old = micros(NOW - timedelta(days=8))
    fresh = micros(NOW - timedelta(days=1))
    assert settled(Staged(1, 1, "1", "2", old), None, expired_before=week_ago) is None
    assert settled(Staged(1, 1, "1", "2", None), None, expired_before=week_ago) is None
    assert settled(Staged(1, 1, "1", "2", fresh), None, expired_before=week_ago) is not None
    assert settled(Staged(1, 0, "1", "2", None), None, expired_before=week_ago) is not None
    assert settled(Staged(1, 1, "1", "2", old), None) is not None  # tombstones kept forever


def test_a_key_type_without_a_known_order_or_text_not_of_its_type_is_read_back() -> None:
    assert settled(Staged(1, 0, "a", "b"), Arrivals(1, 0, "c", "c", False), BinaryType()) is None
    assert settled(Staged(1, 0, "x", "y"), Arrivals(1, 0, "3", "3", False)) is None

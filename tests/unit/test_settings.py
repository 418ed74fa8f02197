"""Session settings held by several threads at once (sinks/settings.py)."""

from __future__ import annotations

import threading
import time

import pytest
from pyspark.sql import SparkSession

from sinks.settings import session_settings

KEY = "spark.stream_cdc.test.setting"
OTHER = "spark.stream_cdc.test.other"


def test_a_block_sets_and_then_restores_the_previous_value(spark: SparkSession) -> None:
    spark.conf.set(OTHER, "before")
    try:
        with session_settings(spark, {KEY: "1", OTHER: "during"}):
            assert (spark.conf.get(KEY), spark.conf.get(OTHER)) == ("1", "during")
        assert spark.conf.get(KEY, None) is None
        assert spark.conf.get(OTHER) == "before"
    finally:
        spark.conf.unset(OTHER)


def test_a_block_that_ends_first_leaves_the_value_to_one_still_running(
    spark: SparkSession,
) -> None:
    """Two tables' blocks with the same value, overlapping: the first to end must not unset
    what the other's statement still runs under."""
    inside, first_ended = threading.Event(), threading.Event()
    seen: list[str | None] = []

    def second() -> None:
        with session_settings(spark, {KEY: "7"}):
            inside.set()
            assert first_ended.wait(60)
            seen.append(spark.conf.get(KEY, None))

    with session_settings(spark, {KEY: "7"}):
        thread = threading.Thread(target=second)
        thread.start()
        assert inside.wait(60)
    first_ended.set()
    thread.join(60)

    assert seen == ["7"]
    assert spark.conf.get(KEY, None) is None  # the last to end restored it


def test_another_value_waits_for_the_holder_and_times_out_with_the_key_named(
    spark: SparkSession,
) -> None:
    order: list[str] = []

    def other_value() -> None:
        with session_settings(spark, {KEY: "b"}):
            order.append(f"b:{spark.conf.get(KEY)}")

    with session_settings(spark, {KEY: "a"}):
        thread = threading.Thread(target=other_value)
        thread.start()
        time.sleep(0.5)  # time for the other thread to ask and start waiting
        order.append(f"a:{spark.conf.get(KEY)}")
        with pytest.raises(TimeoutError, match=KEY), session_settings(spark, {KEY: "c"}, 0.2):
            pass
    thread.join(60)

    assert order == ["a:a", "b:b"]
    assert spark.conf.get(KEY, None) is None

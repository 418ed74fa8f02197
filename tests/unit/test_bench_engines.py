"""The engines benchmark interleaves the engines: none always runs on the coldest JVM."""

from __future__ import annotations

from bench.engines import interleaved

NAMES = ["lake", "delta", "iceberg", "warehouse", "naive"]


def test_every_engine_takes_every_batch_once() -> None:
    for batch in range(1, 8):
        assert sorted(interleaved(NAMES, batch)) == sorted(NAMES)


def test_each_engine_runs_first_and_last_in_turn_over_as_many_batches_as_engines() -> None:
    orders = [interleaved(NAMES, batch) for batch in range(1, len(NAMES) + 1)]
    assert sorted(order[0] for order in orders) == sorted(NAMES)
    assert sorted(order[-1] for order in orders) == sorted(NAMES)


def test_a_single_engine_runs_alone() -> None:
    assert interleaved(["lake"], 3) == ["lake"]

"""What the Delta and Iceberg tests of their file statistics share (sinks/file_ranges.py):
the run of batches whose key-table reads must not depend on the pruning, and the
retention scenarios that reach the expiry question."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pyspark.sql import DataFrame

from sinks import file_ranges
from sinks.file_ranges import StatisticsPruned
from sinks.table_pair import OpenBatch
from tests.contract import test_retention

NEVER = 10**9  # a file count no test table reaches: the key range alone

# Moves between days (into and out of the NULL day), deletes of live and unknown keys, a
# re-insert after a delete, a late change and a late delete; then the published rows
# (id, name, day) they leave.
MOVES: list[list[tuple[Any, ...]]] = [
    [(k, "a", k % 4, "I", "1", f"p{k}") for k in range(1, 9)] + [(9, "n", None, "I", "1", "p")],
    [(1, "b", 3, "U", "2", "q1"), (9, "n2", 1, "U", "2", "q2"), (2, None, None, "D", "2", "q")],
    [(2, "c", 0, "I", "3", "r1"), (1, "late", 0, "U", "1", "r2"), (50, None, None, "D", "3", "r")],
    [(3, None, None, "D", "2", "s1"), (8, "z", None, "U", "4", "s2"), (4, "x", 2, "U", "0", "s")],
    [(3, "old", 3, "U", "1", "t1"), (8, "y", 2, "U", "5", "t2"), (7, None, None, "D", "5", "t")],
]  # fmt: skip
MOVED = {(1, "b", 3), (2, "c", 0), (4, "a", 0), (5, "a", 1), (6, "a", 2), (8, "y", 2), (9, "n2", 1)}

# The contract's retention scenarios where a tombstone expires (the others never reach
# the question whether the key MERGE needs its expiry clause).
EXPIRING = [
    test_retention.test_expired_tombstones_leave_the_state_in_the_commit_of_a_batch_that_reaches_them,
    test_retention.test_late_change_after_its_tombstone_expired_resurrects_the_row,
]


def opened_state(pair: StatisticsPruned, batch: DataFrame, batch_id: int) -> DataFrame:
    """The state rows the batch's decision reads."""
    opened = pair._open(batch, batch_id, "w")
    assert isinstance(opened, OpenBatch), opened
    return opened.state


def apply_moves(
    pair: StatisticsPruned,
    changes: Callable[[list[tuple[Any, ...]]], DataFrame],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Apply `MOVES` with pruning from the first file; before each batch, the state rows
    of its keys that the decision reads are the same whether the engine prunes from the
    first file or never (the decision is a function of them)."""
    for batch_id, rows in enumerate(MOVES):
        batch, keys = changes(rows), {r[0] for r in rows}
        if batch_id:
            held: dict[int, set[tuple[object, ...]]] = {}
            for prune_from in (0, NEVER):
                monkeypatch.setattr(file_ranges, "PRUNE_FROM_FILES", prune_from)
                read = opened_state(pair, batch, batch_id).collect()
                held[prune_from] = {tuple(r) for r in read if r["id"] in keys}
            assert held[0] == held[NEVER]
            assert {r[0] for r in held[0]} >= keys - {50}  # every key it has seen
        monkeypatch.setattr(file_ranges, "PRUNE_FROM_FILES", 0)
        pair.apply(batch, batch_id, "w")

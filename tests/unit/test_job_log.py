"""The job's batch log lines summed up for a stretch of its run (bench/job_log.py)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.job_log import Stretch, batches_of


def line(batch_id: int, table: str, read: dict[str, int], total_s: float, jobs: int) -> str:
    phases = {"route_s": total_s / 2, "decode_s": 0.0, "quarantine_s": 0.0,
              "apply_s": total_s / 2, "total_s": total_s}  # fmt: skip
    event = {"event": "batch", "query": "shop.source", "table": table, "batch_id": batch_id,
             "read": read, "source_batch": {"spark_jobs": jobs, **phases}}  # fmt: skip
    return f"2026-12-04 21:58:00,704 INFO stream_cdc {json.dumps(event)}"


def test_a_batch_counts_the_changes_of_all_its_tables_once() -> None:
    lines = [
        line(7, "orders", {"I": 3, "U": 1}, 1.0, 2),
        line(7, "users", {"D": 2}, 1.0, 2),  # the same source batch, another table
        "2026-12-04 21:58:01,000 INFO stream_cdc query started",
        line(8, "orders", {"I": 10}, 3.0, 4),
        line(9, "orders", {}, 0.5, 1),  # nothing applied: not a batch of the stretch
    ]
    batches = batches_of(lines)
    assert batches is not None
    assert batches.count == 2
    assert batches.changes == (6 + 10) / 2
    assert batches.seconds == 2.0 and batches.spark_jobs == 3.0
    assert batches.phases["route_s"] == 1.0
    assert "2 Spark jobs" not in batches.line() and "3 Spark jobs" in batches.line()


def test_a_stretch_reads_only_what_the_log_got_after_it_started(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text(line(1, "orders", {"I": 100}, 9.0, 9) + "\n", encoding="utf-8")
    stretch = Stretch.start(log)
    assert stretch.batches() is None
    with log.open("a", encoding="utf-8") as f:
        f.write(line(2, "orders", {"I": 5}, 1.0, 2) + "\n")
    batches = stretch.batches()
    assert batches is not None and batches.count == 1 and batches.changes == 5

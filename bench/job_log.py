"""What the job's batch log lines say about a stretch of its run: how many batches, how
long, how many changes, how many Spark jobs, and where the time went.

The job logs one JSON line per table and batch (`"event": "batch"`, docs/operations.md),
each carrying the whole source batch's Spark jobs and phases (`source_batch`). A stretch
is read from a byte offset of the log (`Stretch.start`), so that a benchmark can say what
the job did while it measured.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Batches", "Stretch", "batch_event", "batches_of"]

_MARK = '"event": "batch"'


@dataclass(frozen=True)
class Batches:
    """Medians over the source batches of a stretch that applied changes."""

    count: int
    seconds: float
    changes: float
    spark_jobs: float
    phases: dict[str, float]  # route_s, decode_s, quarantine_s, apply_s

    def line(self) -> str:
        split = ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in self.phases.items())
        return (
            f"job batches: {self.count}, median {self.seconds:.2f} s for "
            f"{self.changes:,.0f} changes in {self.spark_jobs:g} Spark jobs ({split})"
        )


@dataclass(frozen=True)
class Stretch:
    """A part of the job's log, from where it ended when the stretch started."""

    log: Path
    offset: int

    @classmethod
    def start(cls, log: Path) -> Stretch:
        return cls(log, log.stat().st_size if log.exists() else 0)

    def batches(self) -> Batches | None:
        with self.log.open("rb") as f:
            f.seek(self.offset)
            text = f.read().decode("utf-8", errors="replace")
        return batches_of(text.splitlines())


def batch_event(line: str) -> dict[str, Any] | None:
    """The JSON of a batch log line (a logger's prefix before it allowed), None for any
    other line."""
    if _MARK not in line or "{" not in line:
        return None
    try:
        event = json.loads(line[line.index("{") :])
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def batches_of(lines: list[str]) -> Batches | None:
    """The medians of the source batches the `lines` describe (None: no batch with
    changes)."""
    by_batch: dict[int, dict[str, Any]] = {}
    for event in filter(None, map(batch_event, lines)):
        batch = by_batch.setdefault(
            int(event["batch_id"]), {"source": event.get("source_batch") or {}, "changes": 0}
        )
        batch["changes"] += sum(int(n) for n in (event.get("read") or {}).values())
    applied = [b for b in by_batch.values() if b["changes"] and b["source"].get("total_s")]
    if not applied:
        return None

    def median(key: str) -> float:
        return float(statistics.median(float(b["source"].get(key) or 0) for b in applied))

    return Batches(
        count=len(applied),
        seconds=median("total_s"),
        changes=float(statistics.median(b["changes"] for b in applied)),
        spark_jobs=median("spark_jobs"),
        phases={k: median(k) for k in ("route_s", "decode_s", "quarantine_s", "apply_s")},
    )

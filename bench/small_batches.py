"""Do small batches stay cheap when they touch many partitions? The lake engine's cost of
a 600-change batch spread over 200 partitions against one that touches 5.

The table is shaped like `bench.lake_scaling`'s, partitioned by year/month/day, with small
partitions (`--rows-per-day 200`, `--days 200`: 40,000 rows), so that what is measured is
the cost of touching a partition, not of rewriting its rows. Each round applies, to the
same table, two batches of 600 updates that keep their day: `narrow` updates 120 keys of
each of the last 5 days, `wide` 3 keys of each of 200 days. The goal (docs/benchmarks.md):
wide costs at most 3x narrow. Side by side, as the naive baseline, the same two batches
by Spark's dynamic partition overwrite (`bench.lake_scaling.naive_dynamic`) on a copy of
the table.

    python -m bench.small_batches [--days 200] [--rounds 3] [--changes 600]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from bench.lake_scaling import (
    FIRST_DAY,
    PARTS,
    base_rows,
    change_frame,
    naive_dynamic,
    timed,
)
from bench.memory import peak_line
from runtime.session import local_session
from sinks.lake import LakeEngine

SHAPES = {"narrow": 5, "wide": 200}


def updates(
    days: int, per_day: int, spread: int, changes: int, seq: int
) -> list[tuple[object, ...]]:
    """`changes` updates of existing keys, spread evenly over the last `spread` days."""
    touched = list(range(days - spread, days))
    each = changes // spread
    out: list[tuple[object, ...]] = []
    for day in touched:
        when = FIRST_DAY + timedelta(days=day)
        for i in range(each):
            key = day * per_day + (i * 37 + seq) % per_day
            pos = f"s{seq:04d}{len(out):015d}"
            out.append((key, f"changed-{seq}", float(i), when, "U", f"{seq:04d}", pos))
    return out


def run_engine(
    engine: LakeEngine, frame: DataFrame, batch_id: int, phases: list[dict[str, float]]
) -> None:
    phases.append(engine.apply(frame, batch_id, "bench").timings)


def phase_text(timings: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in timings.items())


def jobs_of(spark: SparkSession, group: str, action: Callable[[], object]) -> tuple[float, int]:
    spark.sparkContext.setJobGroup(group, group)
    try:
        seconds = timed(action)
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    return seconds, len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=200, help="days (partitions) of the table")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--changes", type=int, default=600, help="changes per batch")
    parser.add_argument("--rows-per-day", type=int, default=200, help="rows of a partition")
    args = parser.parse_args(argv)
    if args.days < max(SHAPES.values()):
        parser.error(f"--days must be at least {max(SHAPES.values())}")
    spark = local_session("bench-small-batches", driver_memory="4g", shuffle_partitions=8)
    seconds: dict[tuple[str, str], list[float]] = {}
    jobs: dict[tuple[str, str], list[int]] = {}
    phases: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="small-batches-") as tmp:
        lake, naive = Path(tmp) / "lake", Path(tmp) / "naive"
        engine = LakeEngine(spark, str(lake), keys=["id"], partition_by=PARTS)
        rows = base_rows(spark, args.days * args.rows_per_day, args.rows_per_day)
        engine.apply(rows, 0, "bench")
        shutil.copytree(lake, naive, ignore=shutil.ignore_patterns("_cdc"))
        batch_id = 0
        for r in range(args.rounds + 1):  # round 0 warms up both paths
            for shape, spread in SHAPES.items():
                batch_id += 1
                frame: DataFrame = change_frame(
                    spark, updates(args.days, args.rows_per_day, spread, args.changes, batch_id)
                ).cache()
                frame.count()
                sides: dict[str, Callable[[], object]] = {
                    "engine": partial(run_engine, engine, frame, batch_id, phases),
                    "naive": partial(naive_dynamic, spark, str(naive), frame),
                }
                for side, action in sides.items():
                    took, count = jobs_of(spark, f"{side}-{shape}-{batch_id}", action)
                    if r == 0:
                        continue
                    seconds.setdefault((side, shape), []).append(took)
                    jobs.setdefault((side, shape), []).append(count)
                    where = f" ({phase_text(phases[-1])})" if side == "engine" else ""
                    print(f"  round {r} {side} {shape}: {took:.2f} s, {count} jobs{where}")
                frame.unpersist()
    print(
        f"\n{args.changes} changes per batch, {args.days} days of {args.rows_per_day} rows, "
        f"median of {args.rounds} rounds"
    )
    print(f"{'side':>7} {'narrow s':>9} {'wide s':>8} {'jobs n/w':>9} {'wide/narrow':>12}")
    for side in ("engine", "naive"):
        narrow = statistics.median(seconds[(side, "narrow")])
        wide = statistics.median(seconds[(side, "wide")])
        counts = "/".join(f"{statistics.median(jobs[(side, s)]):g}" for s in SHAPES)
        print(f"{side:>7} {narrow:>9.2f} {wide:>8.2f} {counts:>9} {wide / narrow:>11.2f}x")
    print(peak_line(spark))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

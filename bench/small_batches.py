"""Do small batches stay cheap when they touch many partitions? The lake engine's cost of
a 600-change batch spread over 200 partitions against one that touches 5.

The table is `bench.lake_scaling`'s: 5,000 rows a day, partitioned by year/month/day
(`--days 200`: 1M rows). Each round applies, to the same table, two batches of 600
updates that keep their day: `narrow` updates 120 keys of each of the last 5 days,
`wide` 3 keys of each of 200 days. The goal (docs/benchmarks.md): wide costs at most 3x
narrow. Side by side, as the naive baseline, the same two batches by Spark's dynamic
partition overwrite (`bench.lake_scaling.naive_dynamic`) on a copy of the table.

    python -m bench.small_batches [--days 200] [--rounds 3] [--changes 600]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from bench.lake_scaling import (
    FIRST_DAY,
    PARTS,
    ROWS_PER_DAY,
    base_rows,
    change_frame,
    naive_dynamic,
)
from runtime.session import local_session
from sinks.lake import LakeEngine

SHAPES = {"narrow": 5, "wide": 200}


def updates(days: int, spread: int, changes: int, seq: int) -> list[tuple[object, ...]]:
    """`changes` updates of existing keys, spread evenly over the last `spread` days."""
    touched = list(range(days - spread, days))
    per_day = changes // spread
    out: list[tuple[object, ...]] = []
    for day in touched:
        when = FIRST_DAY + timedelta(days=day)
        for i in range(per_day):
            key = day * ROWS_PER_DAY + (i * 37 + seq) % ROWS_PER_DAY
            pos = f"s{seq:04d}{len(out):015d}"
            out.append((key, f"changed-{seq}", float(i), when, "U", f"{seq:04d}", pos))
    return out


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


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
    args = parser.parse_args(argv)
    if args.days < max(SHAPES.values()):
        parser.error(f"--days must be at least {max(SHAPES.values())}")
    spark = local_session("bench-small-batches", driver_memory="4g", shuffle_partitions=8)
    seconds: dict[tuple[str, str], list[float]] = {}
    jobs: dict[tuple[str, str], list[int]] = {}
    with tempfile.TemporaryDirectory(prefix="small-batches-") as tmp:
        lake, naive = Path(tmp) / "lake", Path(tmp) / "naive"
        engine = LakeEngine(spark, str(lake), keys=["id"], partition_by=PARTS)
        engine.apply(base_rows(spark, args.days * ROWS_PER_DAY), 0, "bench")
        shutil.copytree(lake, naive, ignore=shutil.ignore_patterns("_cdc"))
        batch_id = 0
        for r in range(args.rounds + 1):  # round 0 warms up both paths
            for shape, spread in SHAPES.items():
                batch_id += 1
                frame: DataFrame = change_frame(
                    spark, updates(args.days, spread, args.changes, batch_id)
                ).cache()
                frame.count()
                sides: dict[str, Callable[[], object]] = {
                    "engine": lambda f=frame, b=batch_id: engine.apply(f, b, "bench"),
                    "naive": lambda f=frame: naive_dynamic(spark, str(naive), f),
                }
                for side, action in sides.items():
                    took, count = jobs_of(spark, f"{side}-{shape}-{batch_id}", action)
                    if r > 0:
                        seconds.setdefault((side, shape), []).append(took)
                        jobs.setdefault((side, shape), []).append(count)
                        print(f"  round {r} {side} {shape}: {took:.2f} s, {count} jobs", flush=True)
                frame.unpersist()
    print(f"\n{args.changes} changes per batch, {args.days} days, median of {args.rounds} rounds")
    print(f"{'side':>7} {'narrow s':>9} {'wide s':>8} {'jobs n/w':>9} {'wide/narrow':>12}")
    for side in ("engine", "naive"):
        narrow = statistics.median(seconds[(side, "narrow")])
        wide = statistics.median(seconds[(side, "wide")])
        count = f"{statistics.median(jobs[(side, 'narrow')]):g}/"
        count += f"{statistics.median(jobs[(side, 'wide')]):g}"
        print(f"{side:>7} {narrow:>9.2f} {wide:>8.2f} {count:>9} {wide / narrow:>11.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

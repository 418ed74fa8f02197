"""A full load into empty tables: each file engine's first batch against a plain write.

The input is the lake benchmark's table (bench/lake_scaling.py: 5,000 rows a day, keys
growing with time), cached once so that no side pays for producing it. The baseline is
what a user writes for a full load: keep the last change per key (`row_number` over
`_seq`, `_pos`), drop deletes, write partitioned Parquet. Each engine applies the same
rows as batch 0 into tables it creates (lake: partition rewrite with its key index;
Delta and Iceberg: appends into the table and its key table, docs/engines.md, *New
tables*). Rounds alternate the sides so that the machine's drift falls on all of them;
the median round is reported, with Spark jobs (by job group) and the ratio to the plain
write. The issue's goal: within 1.5x of the plain write.

    python -m bench.full_load [--rows 1000000] [--rounds 3] [--engines lake delta iceberg]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from bench.engines import make, session
from bench.lake_scaling import PARTS, base_rows
from bench.memory import peak_line
from transforms.names import BOOKKEEPING, OP, POS, SEQ

RESULTS = Path(__file__).parent / "results" / "full_load.json"
ENGINES = ("lake", "delta", "iceberg")


def plain_write(rows: DataFrame, path: str) -> None:
    """The baseline: last change per key, deletes dropped, partitioned Parquet."""
    last = Window.partitionBy("id").orderBy(F.col(SEQ).desc(), F.col(POS).desc())
    kept = rows.withColumn("__n", F.row_number().over(last)).where("__n = 1")
    columns = [c for c in rows.columns if c not in BOOKKEEPING]
    kept.where(F.col(OP) != "D").select(*columns).write.partitionBy(*PARTS).parquet(path)


def one(name: str, spark: SparkSession, rows: DataFrame, work: Path) -> tuple[float, int]:
    """Seconds and Spark jobs of one full load by `name` into new tables."""
    group = f"full-load-{uuid.uuid4().hex}"
    spark.sparkContext.setJobGroup(group, name)
    started = time.perf_counter()
    if name == "plain":
        plain_write(rows, str(work / f"plain-{uuid.uuid4().hex}"))
    else:
        make(name, spark, work, None).apply(rows, 0, "bench")  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    spark.sparkContext.setJobGroup("bench", "bench")
    return seconds, len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    args = parser.parse_args(argv)
    spark = session()
    sides = ["plain", *args.engines]
    times: dict[str, list[float]] = {s: [] for s in sides}
    jobs: dict[str, list[int]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory(prefix="full-load-bench-") as tmp:
        work = Path(tmp)
        warm = base_rows(spark, 20_000).cache()
        for side in sides:  # every code path once, not measured
            one(side, spark, warm, work)
        rows = base_rows(spark, args.rows).cache()
        rows.count()
        for r in range(args.rounds):
            for side in sides if r % 2 == 0 else reversed(sides):
                seconds, count = one(side, spark, rows, work)
                times[side].append(seconds)
                jobs[side].append(count)
                print(f"  round {r + 1} {side}: {seconds:.2f} s, {count} jobs", flush=True)
    plain = statistics.median(times["plain"])
    report = {
        side: {
            "median_s": round(statistics.median(times[side]), 2),
            "jobs": statistics.median(jobs[side]),
            "x_plain": round(statistics.median(times[side]) / plain, 2),
        }
        for side in sides
    }
    print(f"{'side':>8} {'rows':>10} {'median s':>9} {'jobs':>5} {'x plain':>8}")
    for side, line in report.items():
        print(
            f"{side:>8} {args.rows:>10,} {line['median_s']:>9.2f} {line['jobs']:>5} "
            f"{line['x_plain']:>8}"
        )
    print(peak_line(spark))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": args.rows, "sides": report}, indent=2), "utf-8")
    print(f"written {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Is the cost of a batch flat in table size? The lake engine against naive baselines.

Workload shaped like real CDC (docs/benchmarks.md): the table grows by days
(5,000 rows a day, so 1M rows = 200 days and 5M rows = 1,000 days); one batch of
10,000 changes mostly hits the last week (inserts into today and a new day,
updates, some moving a row to another day of the week, deletes, several changes
of one key) and a few hit old days. The same batch shape runs against both sizes.

Compared side by side in one run, on copies of the same lake:
  engine         sinks.lake.LakeEngine.apply
  dynamic        Spark dynamic-partition overwrite: discover every partition, scan
                 every key to find the affected partitions, rewrite those
  rewrite-all    rewrite every partition of the table

    python -m bench.lake_scaling [--sizes 1000000 5000000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from runtime.session import local_session
from sinks.lake import LakeEngine

ROWS_PER_DAY = 5_000
FIRST_DAY = date(2021, 1, 1)
PARTS = ["year", "month", "day"]
RESULTS = Path(__file__).parent / "results" / "lake_scaling.json"


def session() -> SparkSession:
    return local_session("bench-lake-scaling", driver_memory="8g", shuffle_partitions=8)


def with_partitions(df: DataFrame) -> DataFrame:
    return df.select(
        "*",
        F.year("date").cast("smallint").alias("year"),
        F.month("date").cast("smallint").alias("month"),
        F.dayofmonth("date").cast("smallint").alias("day"),
    )


def base_rows(spark: SparkSession, rows: int, per_day: int = ROWS_PER_DAY) -> DataFrame:
    """The full load, `per_day` rows a day: ids grow with time, as auto-increment keys do."""
    ids = spark.range(rows)
    day = F.floor(F.col("id") / per_day).cast("int")
    df = ids.select(
        F.col("id"),
        F.concat(F.lit("customer-"), (F.col("id") % 9973).cast("string")).alias("name"),
        (F.col("id") % 1000 / 10.0).alias("amount"),
        F.date_add(F.lit(FIRST_DAY), day).alias("date"),
        F.lit("I").alias("_op"),
        F.lit("0").alias("_seq"),
        F.lpad(F.col("id").cast("string"), 20, "0").alias("_pos"),
        F.lit(None).cast("timestamp").alias("_commit_ts"),
    )
    return with_partitions(df).select(
        "id", "name", "amount", "date", *PARTS, "_op", "_seq", "_pos", "_commit_ts"
    )


def change_rows(rows: int, count: int = 10_000, seed: int = 7) -> list[tuple[object, ...]]:
    """One batch: 40% inserts, 45% recent updates (5% of them move), 10% deletes,
    4.8% repeated changes of one key, 0.2% (20) updates of old days."""
    rng = random.Random(seed)
    days = rows // ROWS_PER_DAY
    last = days - 1
    recent = [d for d in range(max(0, last - 6), last + 1)]
    out: list[tuple[object, ...]] = []
    pos = 0

    def add(key: int, op: str, day: int | None, seq: int) -> None:
        nonlocal pos
        pos += 1
        when = FIRST_DAY + timedelta(days=day) if day is not None else None
        name = None if op == "D" else f"changed-{key % 97}"
        out.append((key, name, float(key % 100), when, op, f"{seq:04d}", f"b{pos:019d}"))

    for i in range(int(count * 0.40)):
        add(rows + i, "I", last + (i % 2), 1)  # today and a brand-new day
    for i in range(int(count * 0.45)):
        day = rng.choice(recent)
        key = day * ROWS_PER_DAY + rng.randrange(ROWS_PER_DAY)
        moved = rng.choice(recent) if i % 20 == 0 else day
        add(key, "U", moved, 2)
    for _ in range(int(count * 0.10)):
        day = rng.choice(recent)
        add(day * ROWS_PER_DAY + rng.randrange(ROWS_PER_DAY), "D", None, 3)
    for i in range(int(count * 0.048)):
        add(rows + i, "U", last, 4)  # inserted above, changed again in the batch
    for _ in range(count - len(out)):
        day = rng.randrange(days)
        add(day * ROWS_PER_DAY + rng.randrange(ROWS_PER_DAY), "U", day, 5)
    return out


def change_frame(spark: SparkSession, rows: list[tuple[object, ...]]) -> DataFrame:
    df = spark.createDataFrame(
        rows,
        "id bigint, name string, amount double, date date, _op string, _seq string, _pos string",
    )
    return with_partitions(df).select(
        "id", "name", "amount", "date", *PARTS, "_op", "_seq", "_pos",
        F.lit(None).cast("timestamp").alias("_commit_ts"),
    )  # fmt: skip


def latest(changes: DataFrame) -> DataFrame:
    w = Window.partitionBy("id").orderBy(F.col("_seq").desc(), F.col("_pos").desc())
    return changes.withColumn("r", F.row_number().over(w)).where("r = 1").drop("r")


def naive_dynamic(spark: SparkSession, path: str, changes: DataFrame) -> None:
    """What public Glue jobs do: read it all, find affected partitions, overwrite them."""
    table = spark.read.parquet(path)
    last = latest(changes)
    upserts = last.where("_op != 'D'").select(*table.columns)
    hit = table.join(last.select("id"), "id", "left_semi").select(*PARTS)
    affected = hit.union(upserts.select(*PARTS)).distinct()
    current = table.join(affected, PARTS, "left_semi")
    result = current.join(last.select("id"), "id", "left_anti").unionByName(upserts)
    result = result.localCheckpoint()  # Spark refuses to overwrite a path it reads
    (
        result.write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy(*PARTS)
        .parquet(path)
    )


def naive_rewrite_all(spark: SparkSession, path: str, changes: DataFrame) -> None:
    table = spark.read.parquet(path)
    last = latest(changes)
    upserts = last.where("_op != 'D'").select(*table.columns)
    result = table.join(last.select("id"), "id", "left_anti").unionByName(upserts)
    result.write.mode("overwrite").partitionBy(*PARTS).parquet(f"{path}.rewritten")


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(spark: SparkSession, work: Path, rows: int, repeat: int) -> dict[str, float]:
    base = work / f"base-{rows}"
    build = timed(
        lambda: LakeEngine(spark, str(base), keys=["id"], partition_by=PARTS).apply(
            base_rows(spark, rows), 0, "bench"
        )
    )
    batch = change_frame(spark, change_rows(rows))
    times: dict[str, list[float]] = {"engine": [], "dynamic": [], "rewrite-all": []}
    partitions = 0
    for i in range(repeat):
        for name, samples in times.items():
            copy = work / f"{name}-{rows}-{i}"
            shutil.copytree(base, copy)
            if name == "engine":
                lake = LakeEngine(spark, str(copy), keys=["id"], partition_by=PARTS)
                lake.recover()
                result: dict[str, int] = {}

                def run(lake: LakeEngine = lake, result: dict[str, int] = result) -> None:
                    result["p"] = lake.apply(batch, 1, "bench").partitions_rewritten

                samples.append(timed(run))
                partitions = result["p"]
            elif name == "dynamic":
                samples.append(timed(partial(naive_dynamic, spark, str(copy), batch)))
            else:
                samples.append(timed(partial(naive_rewrite_all, spark, str(copy), batch)))
            shutil.rmtree(copy, ignore_errors=True)
            shutil.rmtree(f"{copy}.rewritten", ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
    return {
        "rows": rows,
        "days": rows // ROWS_PER_DAY,
        "build_s": round(build, 2),
        "partitions_rewritten": partitions,
        **{f"{k}_s": round(statistics.median(v), 2) for k, v in times.items()},
    }


def warm_up(spark: SparkSession, work: Path) -> None:
    """Run every code path once so JIT and caches do not bias the first size."""
    measure(spark, work, 50_000, 1)


def summary(small: dict[str, float], large: dict[str, float]) -> dict[str, Any]:
    """What a run writes: `measure`'s two sizes, the growth of each method's time from
    the small to the large table, and the engine's speedup over the dynamic overwrite."""
    return {
        "when": datetime.now().isoformat(timespec="seconds"),
        "batch_changes": 10_000,
        "sizes": [small, large],
        "growth": {
            name: round(float(large[f"{name}_s"]) / float(small[f"{name}_s"]), 2)
            for name in ("engine", "dynamic", "rewrite-all")
        },
        "engine_speedup_vs_dynamic": [
            round(float(s["dynamic_s"]) / float(s["engine_s"]), 2) for s in (small, large)
        ],
    }


def write_results(report: dict[str, Any], path: Path = RESULTS) -> Path:
    """The report as JSON (bench/results/lake_scaling.json; python -m bench.report draws it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    spark = session()
    with tempfile.TemporaryDirectory(prefix="lake-bench-") as tmp:
        work = Path(tmp)
        warm_up(spark, work)
        small, large = (measure(spark, work, rows, args.repeat) for rows in args.sizes)
    report = summary(small, large)
    growth_by_engine = report["growth"]
    header = ("rows", "days", "engine s", "dynamic s", "rewrite-all s", "partitions")
    print("{:>10} {:>5} {:>9} {:>10} {:>14} {:>10}".format(*header))
    for s in (small, large):
        print(
            f"{s['rows']:>10} {s['days']:>5} {s['engine_s']:>9} {s['dynamic_s']:>10} "
            f"{s['rewrite-all_s']:>14} {s['partitions_rewritten']:>10}"
        )
    growth = ", ".join(f"{k} {v}x" for k, v in growth_by_engine.items())
    print(f"cost growth for {args.sizes[1] // args.sizes[0]}x rows: {growth}")
    print(f"written {write_results(report)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

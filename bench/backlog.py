"""A backlog of DMS change files consumed in batches of several sizes: what a batch's size
costs in time and memory, against a plain read + last change per key + write.

The landing folder holds what piled up while the job was stopped: a full load of `--rows`
rows and `--changes` changes (inserts, updates, deletes of random keys) in `--files` CDC
files, DMS CSV, one table partitioned by day. Each run is one `--once` run of the job
over the whole backlog, in a process of its own with Spark's default driver memory (1g),
with `source.max_files_per_trigger` set so that the backlog is read in `--batches` micro-
batches; printed side by side: wall time, micro-batches, Spark jobs, changes per second,
the driver's peak memory (its JVM's resident set), and the ratio to the baseline. The
baseline reads the same files in one Spark job, keeps the last change per key (file
order, then row order), drops deletes and writes partitioned Parquet: what a user would
write for a one-off catch-up, with none of the guarantees (no tombstones, nothing late
refused, no crash safety).

    python -m bench.backlog [--rows 200000] [--changes 2000000] [--files 200]
                            [--batches 40 10 1]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.memory import peak_rss_mb
from bench.processes import run_case
from transforms.names import OP_LOAD

RESULTS = Path(__file__).parent / "results" / "backlog.json"
COLUMNS = [("id", "int"), ("name", "string"), ("qty", "int"), ("day", "string")]
DAYS = 60


def _day(key: int) -> str:
    return f"2021-{1 + key % DAYS // 28:02d}-{1 + key % DAYS % 28:02d}"


def landing(root: Path, rows: int, changes: int, files: int, seed: int = 11) -> None:
    """The full load and `files` CDC files under `root/bench/orders/` (DMS's layout)."""
    rng = random.Random(seed)
    folder = root / "bench" / "orders"
    folder.mkdir(parents=True, exist_ok=True)
    load = (f"{i},name-{i},{rng.randint(1, 99)},{_day(i)}\n" for i in range(rows))
    (folder / "LOAD00000001.csv").write_text("".join(load), encoding="utf-8")
    per_file, top = -(-changes // files), rows
    for f in range(files):
        lines = []
        for n in range(min(per_file, changes - f * per_file)):
            op = rng.choices("IUD", weights=(3, 6, 1))[0]
            if op == "I":
                key, top = top, top + 1
            else:
                key = rng.randrange(top)
            lines.append(f"{op},{key},name-{key}-{n},{rng.randint(1, 99)},{_day(key)}\n")
        (folder / f"20211101-{f:09d}.csv").write_text("".join(lines), encoding="utf-8")


def _session() -> Any:
    from runtime.session import local_session

    return local_session(
        "bench-backlog",
        driver_memory="1g",  # Spark's default: what spark-submit gives the job
        extra={"spark.ui.retainedJobs": "1000000"},  # every job counted, none forgotten
    )


def one(work: Path, batches: int, files: int) -> dict[str, Any]:
    """One run of the job over the backlog, in this process."""
    from config import JobConfig
    from runtime.runner import run

    spark = _session()
    per_trigger = -(-(files + 1) // batches)  # the full load is a file too
    job = JobConfig.model_validate({
        "name": "bench_backlog",
        "checkpoint": str(work / f"checkpoint-{batches}"),
        "source": {"kind": "files", "path": str(work / "landing"), "format": "dms-csv",
                   "max_files_per_trigger": per_trigger},
        "tables": [{"name": "orders", "source_schema": "bench", "keys": ["id"],
                    "partition_by": ["day"],
                    "columns": [{"name": n, "type": k} for n, k in COLUMNS]}],
        "target": {"kind": "lake", "path": str(work / f"lake-{batches}")},
        "quarantine": {"path": str(work / f"quarantine-{batches}")},
    })  # fmt: skip
    store = spark.sparkContext._jsc.sc().statusStore()
    started = time.perf_counter()
    outcome = run(spark, job, once=True)
    wall = time.perf_counter() - started
    (table,) = outcome.tables
    result = {
        "shape": f"job, {per_trigger} files per batch",
        "wall_s": round(wall, 1),
        "batches": table.batches,
        "spark_jobs": store.jobsList(None).size(),
        "changes_read": sum(n for op, n in table.read_by_op.items() if op != OP_LOAD),
        "driver_peak_mb": peak_rss_mb(spark.sparkContext._gateway.proc.pid),
        "errors": outcome.errors,
    }
    spark.stop()
    return result


def plain(work: Path) -> dict[str, Any]:
    """The baseline, in this process: read, last change per key, write."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spark = _session()
    store = spark.sparkContext._jsc.sc().statusStore()
    started = time.perf_counter()
    schema = "op string, " + ", ".join(f"{n} {k}" for n, k in COLUMNS)
    folder = str(work / "landing" / "bench" / "orders")
    where = F.input_file_name().alias("_file"), F.monotonically_increasing_id().alias("_row")
    cdc = spark.read.csv(f"{folder}/2*.csv", schema=schema).select("*", *where)
    load = spark.read.csv(f"{folder}/LOAD*.csv", schema=", ".join(f"{n} {k}" for n, k in COLUMNS))
    loaded = load.select(F.lit("L").alias("op"), "*", *where)
    rows = cdc.unionByName(loaded)
    # Loads first, then the CDC files in name order (DMS's), each row by row.
    order = Window.partitionBy("id").orderBy(
        (F.col("op") != "L").desc(), F.col("_file").desc(), F.col("_row").desc()
    )
    last = rows.withColumn("__n", F.row_number().over(order)).where("__n = 1 AND op != 'D'")
    last.drop("__n", "op", "_file", "_row").write.partitionBy("day").parquet(str(work / "plain"))
    wall = time.perf_counter() - started
    result = {
        "shape": "plain read + last per key + write",
        "wall_s": round(wall, 1),
        "batches": 1,
        "spark_jobs": store.jobsList(None).size(),
        "changes_read": cdc.count(),
        "driver_peak_mb": peak_rss_mb(spark.sparkContext._gateway.proc.pid),
        "errors": [],
    }
    spark.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--changes", type=int, default=2_000_000)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--batches", type=int, nargs="+", default=[40, 10, 1])
    parser.add_argument("--one", nargs=3, metavar=("WORK", "BATCHES", "FILES"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args(argv)
    if args.one:
        work, batches, files = Path(args.one[0]), int(args.one[1]), int(args.one[2])
        print(json.dumps(plain(work) if batches == 0 else one(work, batches, files)))
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-backlog-"))
    landing(work / "landing", args.rows, args.changes, args.files)
    print(f"a backlog of {args.rows} loaded rows and {args.changes} changes in {args.files} files")
    results: list[dict[str, Any]] = []
    for batches in [0, *args.batches]:  # 0: the baseline
        results.append(run_case("bench.backlog", [str(work), str(batches), str(args.files)]))
        print(_line(results[-1], results[0]), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written {RESULTS}")
    return 0


def _line(result: dict[str, Any], baseline: dict[str, Any]) -> str:
    rate = result["changes_read"] / result["wall_s"] if result["wall_s"] else 0.0
    ratio = result["wall_s"] / baseline["wall_s"] if baseline["wall_s"] else 0.0
    per_batch = result["spark_jobs"] / max(1, result["batches"])
    failed = f"  FAILED: {result['errors']}" if result["errors"] else ""
    return (
        f"{result['shape']:<38} {result['wall_s']:>7.1f} s  {ratio:4.2f}x plain  "
        f"{result['batches']:>3} batches  {result['spark_jobs']:>5} jobs "
        f"({per_batch:.1f} a batch)  "
        f"{rate:>8,.0f} changes/s  driver peak {result['driver_peak_mb']:,} MB{failed}"
    )


if __name__ == "__main__":
    raise SystemExit(main())

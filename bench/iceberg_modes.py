"""Iceberg's two write modes under a CDC stream: merge-on-read (the default) against
copy-on-write, each on a table of its own, in one run.

A table of `--rows` rows over `--days` day partitions (a bulk load, so each partition is
one large file), then `--batches` batches of `--changes` changes each: updates and a few
deletes of keys spread over the most recent 7 days. Per mode: the median time to apply a
batch, the files the batches added, and the time a reader then takes to scan the table
(Spark, count of a full scan) before and after compaction of the delete files.

    python -m bench.iceberg_modes [--rows 200000] [--days 60] [--batches 5] [--changes 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from runtime.session import local_session
from sinks.iceberg import IcebergEngine

RESULTS = Path(__file__).parent / "results" / "iceberg_modes.json"
SCHEMA = "id int, name string, day int, _op string, _seq string, _pos string, _commit_ts timestamp"
MODES = ("merge-on-read", "copy-on-write")


def load(spark: SparkSession, rows: int, days: int) -> DataFrame:
    return spark.range(rows).select(
        F.col("id").cast("int").alias("id"),
        F.concat(F.lit("n"), F.col("id").cast("string")).alias("name"),
        (F.col("id") % days).cast("int").alias("day"),
        F.lit("I").alias("_op"),
        F.lit("0").alias("_seq"),
        F.format_string("p%012d", F.col("id")).alias("_pos"),
        F.lit(None).cast("timestamp").alias("_commit_ts"),
    )


def changes(spark: SparkSession, args: argparse.Namespace, batch: int) -> DataFrame:
    rng = random.Random(batch)
    recent = list(range(max(0, args.days - 7), args.days))
    ids = {
        rng.choice(recent) + args.days * rng.randrange(args.rows // args.days)
        for _ in range(args.changes)
    }
    seq = f"{batch:06d}"
    rows = [
        (i, None if n % 20 == 0 else f"u{batch}", i % args.days, "D" if n % 20 == 0 else "U",
         seq, f"b{batch}-{n:08d}", None)
        for n, i in enumerate(sorted(ids))
    ]  # fmt: skip
    return spark.createDataFrame(rows, SCHEMA)


def scan_s(spark: SparkSession, table: str) -> float:
    start = time.monotonic()
    spark.table(table).agg(F.sum("id")).collect()
    return time.monotonic() - start


def files(spark: SparkSession, table: str) -> dict[str, int]:
    kinds = spark.table(f"{table}.files").groupBy("content").count().collect()
    return {("data" if r["content"] == 0 else "deletes"): int(r["count"]) for r in kinds}


def run(spark: SparkSession, root: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    name = f"bench_{mode.replace('-', '_')}"
    engine = IcebergEngine(
        spark, f"{root}/{name}", table="t", keys=["id"], partition_by=["day"],
        spark_catalog=name, write_mode=mode,
    )  # fmt: skip
    engine.apply(load(spark, args.rows, args.days), 0, "bench")
    table = f"{name}.cdc.t"
    times = []
    for b in range(1, args.batches + 1):
        start = time.monotonic()
        engine.apply(changes(spark, args, b), b, "bench")
        times.append(time.monotonic() - start)
    report = {
        "apply_median_s": round(statistics.median(times), 2),
        "files": files(spark, table),
        "scan_s": round(min(scan_s(spark, table) for _ in range(3)), 2),
    }
    spark.sql(
        f"CALL {name}.system.rewrite_data_files(table => 'cdc.t', "
        "options => map('delete-file-threshold', '1'))"
    ).collect()
    report["scan_after_compaction_s"] = round(min(scan_s(spark, table) for _ in range(3)), 2)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--changes", type=int, default=2000)
    args = parser.parse_args(argv)
    spark = local_session("bench-iceberg-modes", shuffle_partitions=4)
    with tempfile.TemporaryDirectory() as root:
        report = {mode: run(spark, root, mode, args) for mode in MODES}
    print(f"{'mode':<15} {'apply s':>8} {'data files':>10} {'delete files':>12} "
          f"{'scan s':>7} {'scan s compacted':>16}")  # fmt: skip
    for mode, r in report.items():
        data, deletes = r["files"].get("data", 0), r["files"].get("deletes", 0)
        print(
            f"{mode:<15} {r['apply_median_s']:>8} {data:>10} {deletes:>12} "
            f"{r['scan_s']:>7} {r['scan_after_compaction_s']:>16}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "modes": report}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The engines side by side: the same stream of changes into lake, Delta, Iceberg and the
warehouse (PostgreSQL standing in for Redshift), into a naive foreachBatch MERGE, and into
the least a guarded Delta MERGE costs, at two table sizes.

Workload (the lake scaling benchmark's shape, docs/benchmarks.md): a table of
5,000 rows a day (1M rows = 200 days, 5M = 1,000 days), loaded through each engine as
one initial batch; then a stream of batches of 10,000 changes: 40% inserts, 45%
updates of the last week (5% of them move a row to another day), 10% deletes, repeated
changes of one key, a few updates of old days. 10% of every batch's changes arrive one
batch late (they carry the previous batch's sequence values): out-of-order delivery the
sequence guard must sort out. The same batches, in the same order, reach every engine,
interleaved: every engine takes batch 1, then every engine batch 2, the order rotated
each batch, so that the JVM's warming and the machine's drift fall on all of them alike
(run one engine after another, the first ran on the coldest JVM and the naive MERGE,
last, on the warmest).

Reported per engine and size: throughput (changes per second of batch wall time, median
batch), batch latency (median and worst batch), Spark jobs per batch (median, counted by
job group), the growth of the median batch from the small to the large table (1.0 = flat
in table size), and the keys whose final row differs from Delta's (the engines must agree:
0; the naive MERGE, bench/naive.py, keeps no sequence guard or tombstones; the guarded one,
bench/guarded.py, keeps them in the table its readers see, in one MERGE: the floor of a
correct Delta MERGE, which must agree with Delta on every key). Lake, Delta and
Iceberg (merge-on-read, a Hadoop catalog) are partitioned by year/month/day; the warehouse
table has the key as primary key. The session has the job's settings: no adaptive
execution, as Spark plans a streaming micro-batch, so jobs per batch are those the job
runs; `--adaptive on` turns it on to compare (it submits a query's shuffle stages as
jobs of their own).

    python -m bench.engines [--sizes 1000000 5000000] [--batches 5]
                            [--engines lake delta iceberg warehouse naive guarded] [--adaptive on]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from bench.guarded import GuardedDeltaMerge
from bench.lake_scaling import PARTS, base_rows, change_frame, change_rows, timed
from bench.memory import peak_line
from bench.naive import NaiveDeltaMerge, wrong_keys
from runtime.session import local_session
from sinks.base import Engine
from sinks.delta import DeltaEngine
from sinks.iceberg import IcebergEngine
from sinks.lake import LakeEngine
from sinks.redshift import ConnectionSettings, WarehouseEngine
from tests.postgres import PostgresServer

RESULTS = Path(__file__).parent / "results" / "engines.json"
BATCH = 10_000
LATE_SHARE = 0.10
ENGINES = ("lake", "delta", "iceberg", "warehouse", "naive", "guarded")


def session(adaptive: bool = False) -> SparkSession:
    extra = {"spark.sql.adaptive.enabled": str(adaptive).lower()}
    return local_session("bench-engines", driver_memory="8g", shuffle_partitions=8, extra=extra)


def stream(
    rows: int, batches: int, seed: int = 7, changes: int = BATCH
) -> list[list[tuple[object, ...]]]:
    """`batches` batches of `changes` changes; in each, 10% arrive late with the previous
    batch's sequence values. Sequence values grow with the batch number, positions with
    arrival."""
    rng = random.Random(seed)
    out: list[list[tuple[object, ...]]] = []
    for b in range(1, batches + 1):
        batch: list[tuple[object, ...]] = []
        for n, row in enumerate(change_rows(rows, changes, seed=seed + b)):
            key, name, amount, day, op, seq, _pos = row
            era = b - 1 if b > 1 and rng.random() < LATE_SHARE else b
            batch.append((key, name, amount, day, op, f"{era:04d}{seq}", f"s{b:06d}{n:08d}"))
        out.append(batch)
    return out


def make(
    name: str, spark: SparkSession, work: Path, warehouse: ConnectionSettings
) -> Engine | NaiveDeltaMerge:
    tag = uuid.uuid4().hex[:8]
    path = str(work / f"{name}-{tag}")
    if name == "lake":
        return LakeEngine(spark, path, keys=["id"], partition_by=PARTS)
    if name == "delta":
        return DeltaEngine(spark, path, keys=["id"], partition_by=PARTS)
    if name == "naive":
        return NaiveDeltaMerge(spark, path, keys=["id"], partition_by=PARTS)
    if name == "guarded":
        return GuardedDeltaMerge(spark, path, keys=["id"], partition_by=PARTS)
    if name == "iceberg":
        return IcebergEngine(
            spark, path, table="bench", keys=["id"], partition_by=PARTS, spark_catalog=f"b{tag}"
        )
    table = f"bench_{uuid.uuid4().hex[:8]}"
    engine = WarehouseEngine(warehouse, schema="public", table=table, keys=["id"])
    engine.recover()
    return engine


def final_table(spark: SparkSession, engine: Engine | NaiveDeltaMerge) -> DataFrame | None:
    """What a reader of the engine's table sees (None: the warehouse, not compared)."""
    if isinstance(engine, LakeEngine):
        return spark.read.parquet(engine.path)
    if isinstance(engine, DeltaEngine):
        return spark.read.format("delta").load(engine.path)
    if isinstance(engine, NaiveDeltaMerge):  # the guarded one too
        return engine.table(spark)
    if isinstance(engine, IcebergEngine):
        return spark.table(engine.catalog.table(engine.table))
    return None


def interleaved(names: Sequence[str], batch: int) -> list[str]:
    """The order in which the engines take batch `batch`: rotated by one each batch, so
    that no engine always runs first (on the coldest JVM) or last."""
    shift = batch % len(names)
    return [*names[shift:], *names[:shift]]


def measure(
    names: Sequence[str],
    spark: SparkSession,
    work: Path,
    warehouse: ConnectionSettings,
    *,
    rows: int,
    batches: Sequence[DataFrame],
    changes: int = BATCH,
) -> dict[str, tuple[dict[str, float], Engine | NaiveDeltaMerge]]:
    """Each engine's numbers on a new table of `rows` rows, and the engine. Every engine
    takes batch 1, then every engine batch 2, and so on (`interleaved`): the machine's
    drift and the JVM's warming fall on all of them alike."""
    engines: dict[str, Engine | NaiveDeltaMerge] = {}
    builds: dict[str, float] = {}
    for name in names:
        engines[name], builds[name] = _built(make(name, spark, work, warehouse), spark, rows)
    runs: dict[str, list[tuple[float, int, int]]] = {name: [] for name in names}
    for i, batch in enumerate(batches, start=1):
        for name in interleaved(names, i):
            runs[name].append(_batch(spark, engines[name], batch, i, name))
    return {
        name: (_numbers(rows, builds[name], runs[name], changes), engines[name]) for name in names
    }


def _built(
    engine: Engine | NaiveDeltaMerge, spark: SparkSession, rows: int
) -> tuple[Engine | NaiveDeltaMerge, float]:
    """The engine with its table loaded (`rows` rows, batch 0), and the load's time."""
    return engine, timed(lambda: engine.apply(base_rows(spark, rows), 0, "bench"))


def _batch(
    spark: SparkSession, engine: Engine | NaiveDeltaMerge, batch: DataFrame, i: int, name: str
) -> tuple[float, int, int]:
    """One batch into one engine: its wall time, Spark jobs (by job group) and stale
    changes."""
    outcome: dict[str, int] = {}
    group = f"bench-{uuid.uuid4().hex}"

    def run() -> None:
        outcome["stale"] = engine.apply(batch, i, "bench").stale

    spark.sparkContext.setJobGroup(group, f"{name} batch {i}")
    elapsed = timed(run)
    spark.sparkContext.setJobGroup("bench", "bench")
    jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))
    return elapsed, jobs, outcome["stale"]


def _numbers(
    rows: int, build: float, runs: list[tuple[float, int, int]], changes: int
) -> dict[str, float]:
    times = [t for t, _, _ in runs]
    median = statistics.median(times)
    return {
        "rows": rows,
        "build_s": round(build, 2),
        "median_batch_s": round(median, 2),
        "worst_batch_s": round(max(times), 2),
        "changes_per_s": round(changes / median),
        "jobs_per_batch": statistics.median(j for _, j, _ in runs),
        "stale": sum(s for _, _, s in runs),
    }


def summary(
    results: dict[str, list[dict[str, float]]], batches: int, changes: int = BATCH
) -> dict[str, Any]:
    """What a run writes: every measurement (`measure`'s, per engine and size, smallest
    first) and each engine's growth of the median batch from the first to the last size."""
    growth = {
        name: round(r[-1]["median_batch_s"] / r[0]["median_batch_s"], 2)
        for name, r in results.items()
    }
    return {
        "when": datetime.now().isoformat(timespec="seconds"),
        "batch_changes": changes,
        "late_share": LATE_SHARE,
        "batches": batches,
        "results": results,
        "growth": growth,
    }


def compare_with_delta(
    finals: dict[str, DataFrame | None], results: dict[str, list[dict[str, float]]]
) -> None:
    """Each engine's keys whose final row differs from Delta's (the last size's results)."""
    delta = finals.get("delta")
    if delta is None:
        return
    for name, table in finals.items():
        if table is not None and name != "delta":
            results[name][-1]["wrong_keys_vs_delta"] = wrong_keys(delta, table, ["id"])


def write_results(report: dict[str, Any], path: Path = RESULTS) -> Path:
    """The report as JSON (bench/results/engines.json; python -m bench.report draws it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return path


def print_table(report: dict[str, Any]) -> None:
    """The run's table; "x naive" is the naive MERGE's median batch over the engine's at
    the same size (above 1.0: faster than the naive MERGE)."""
    results, growth = report["results"], report["growth"]
    naive = {r["rows"]: r["median_batch_s"] for r in results.get("naive", [])}
    header = ("engine", "rows", "changes/s", "median s", "worst s", "build s", "jobs")
    print(
        "{:>10} {:>10} {:>10} {:>9} {:>8} {:>8} {:>5} {:>7} {:>8} {:>6}".format(
            *header, "growth", "x naive", "wrong"
        )
    )
    for name, sizes in results.items():
        for i, r in enumerate(sizes):
            wrong = r.get("wrong_keys_vs_delta", "")
            base = naive.get(r["rows"])
            ratio = f"{base / r['median_batch_s']:.2f}" if base else ""
            print(
                f"{name:>10} {int(r['rows']):>10,} {int(r['changes_per_s']):>10,} "
                f"{r['median_batch_s']:>9.2f} {r['worst_batch_s']:>8.2f} {r['build_s']:>8.2f} "
                f"{r['jobs_per_batch']:>5} {growth[name] if i else '':>7} {ratio:>8} {wrong:>6}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1_000_000, 5_000_000])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument(
        "--changes", type=int, default=BATCH, help="changes a batch (default %(default)s)"
    )
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument(
        "--adaptive",
        choices=("on", "off"),
        default="off",
        help="Spark's adaptive execution (the job runs without it, as Spark plans a "
        "streaming micro-batch; on: to compare)",
    )
    args = parser.parse_args(argv)
    spark = session(adaptive=args.adaptive == "on")
    server = PostgresServer()
    results: dict[str, list[dict[str, float]]] = {e: [] for e in args.engines}
    try:
        with tempfile.TemporaryDirectory(prefix="engines-bench-") as tmp:
            work = Path(tmp)
            for rows in args.sizes:
                stream_ = stream(rows, args.batches, changes=args.changes)
                frames = [change_frame(spark, b).cache() for b in stream_]
                # Warm up every code path once on a small table, then measure.
                measure(args.engines, spark, work, server.settings, rows=20_000, batches=frames[:1])
                measured = measure(
                    args.engines,
                    spark,
                    work,
                    server.settings,
                    rows=rows,
                    batches=frames,
                    changes=args.changes,
                )
                finals: dict[str, DataFrame | None] = {}
                for name, (numbers, engine) in measured.items():
                    results[name].append(numbers)
                    finals[name] = final_table(spark, engine)
                    print(f"  {name} {rows:,} rows: {numbers}", flush=True)
                compare_with_delta(finals, results)
                for frame in frames:
                    frame.unpersist()
    finally:
        server.remove()
    report = summary(results, args.batches, args.changes)
    print_table(report)
    print(peak_line(spark))
    print(f"written {write_results(report)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The same rows and changes spread over 1, 20 and 200 tables: what a table costs.

A DMS landing root holds a full load and a CDC file per table (DMS CSV), the same data
whatever the number of tables: `--rows` loaded rows and `--changes` changes in all
(inserts, updates, deletes), split evenly. Each (tables, target) is one `--once` run of
the job, in a process of its own, printed side by side: wall time, Spark jobs, peak
memory of the driver (its JVM). Targets: the Parquet lake, and the warehouse (a
throwaway PostgreSQL standing in for Redshift).

Three baselines. The plain floor, at every table count: each table's files read, the last
change per key kept, the rows written (partition-less Parquet on the lake, a new table
over JDBC on the warehouse), one Spark job per table, four tables at a time as the job
applies them, none of the guarantees: what any tool that writes each table with its own
Spark write costs at least. The one-program floor (bench/one_program.py), at every table
count: every table decoded, typed and written (staged into the warehouse, or Parquet files
on the lake) by one Spark program, its tables' types as data, none of the guarantees
either: what a design whose cost does not grow with its tables' plans costs. And the
shape before whole-database mode: one query per table, each over its own landing folder
with its own checkpoint and fixed cost (run here one after another in the same session,
`--baseline-tables`, 20 by default: at 200 it would take most of an hour). The goal: 200
tables in at most 2x the time of 1 table with the same data.

    python -m bench.tables [--tables 1 20 200] [--targets lake warehouse]
                           [--rows 20000] [--changes 10000] [--baseline-tables 20]
                           [--batches 1]

`--baseline-tables` with no number runs no query-per-table baseline (the floor always runs).
`--batches N` (N > 1) spreads the changes over N waves of files, read a wave a batch after
the loads' batch, and prints the median time of the batches after the first: what a table
costs a running stream, whose tables' decoding is built at their first batch.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.job_log import batch_event
from bench.memory import peak_rss_mb
from bench.processes import run_case

RESULTS = Path(__file__).parent / "results" / "tables.json"
COLUMNS = [("id", "int"), ("name", "string"), ("qty", "int"), ("placed", "string")]
PLAIN_THREADS = 4  # tables the floor writes at once: as many as the job applies at once


def landing(
    root: Path, tables: int, rows: int, changes: int, batches: int = 1, *, seed: int = 7
) -> None:
    """A full load and CDC files per table under `root/bench/t<i>/` (DMS's layout): the
    changes in `batches` files a table, each wave of files newer than the one before."""
    rng = random.Random(seed)
    per_table, changed = max(1, rows // tables), max(1, changes // tables)
    start = time.time() - 3600
    for t in range(tables):
        folder = root / "bench" / f"t{t:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        load = [
            f"{i},name-{i},{rng.randint(1, 99)},2021-0{1 + i % 9}-1{i % 10}"
            for i in range(per_table)
        ]
        files = {folder / "LOAD00000001.csv": load}
        cdc = []
        for n in range(changed):
            op = rng.choices("IUD", weights=(4, 5, 1))[0]
            key = per_table + n if op == "I" else rng.randrange(per_table)
            cdc.append(f"{op},{key},name-{key}-{n},{rng.randint(1, 99)},2021-10-1{n % 10}")
        step = -(-changed // batches)
        for wave in range(batches):
            files[folder / f"20211101-{wave:09d}.csv"] = cdc[wave * step : (wave + 1) * step]
        for wave, (path, lines) in enumerate(files.items()):
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            os.utime(path, (start + wave, start + wave))  # the source reads oldest first


def config(
    work: Path, landing: Path, names: list[str], target: dict[str, Any], per_trigger: int = 1000
) -> dict[str, Any]:
    return {
        "name": "bench_tables",
        "checkpoint": str(work / "checkpoint"),
        "source": {
            "kind": "files",
            "path": str(landing),
            "format": "dms-csv",
            "max_files_per_trigger": per_trigger,
        },
        "tables": [
            {
                "name": name,
                "source_schema": "bench",
                "keys": ["id"],
                "columns": [{"name": n, "type": k} for n, k in COLUMNS],
            }
            for name in names
        ],
        "target": target,
        "quarantine": {"path": str(work / "quarantine")},
    }


def one(
    tables: int,
    target_kind: str,
    shape: str,
    *,
    rows: int,
    changes: int,
    port: int | None,
    batches: int = 1,
) -> dict[str, Any]:
    """One run, in this process (the parent starts one process per run). `shape` is
    "source" (one query for every table), "per-table" (the baseline: one query per
    table, each over its own landing folder), or a floor ("plain", "one-program": `floor`).
    With `batches` over 1, the job reads a wave of files a batch (the loads, then each
    wave of changes) and the result has its later batches' median time."""
    from config import JobConfig
    from config.secrets import read_secrets
    from runtime.runner import run
    from runtime.session import local_session

    work = Path(tempfile.mkdtemp(prefix=f"bench-tables-{tables}-"))
    landing(work / "landing", tables, rows, changes, batches)
    target = _target(target_kind, work, f"b{tables}{shape[:2]}", port)
    names = [f"t{t:03d}" for t in range(tables)]
    runs = _runs(work, names, shape)
    spark = local_session(
        "bench-tables",
        driver_memory="4g",
        shuffle_partitions=4,
        extra={"spark.ui.retainedJobs": "1000000"},  # every job counted, none forgotten
    )
    store = spark.sparkContext._jsc.sc().statusStore()
    jobs_before = store.jobsList(None).size()
    batch_lines = _BatchLines.listening()
    started = time.perf_counter()
    applied, errors = 0, []
    if shape in _FLOORS:
        floor(spark, shape, work / "landing", names, target)
    for run_work, root, run_names in runs:
        per_trigger = len(run_names) if batches > 1 else 1000
        job = JobConfig.model_validate(config(run_work, root, run_names, target, per_trigger))
        job = job.with_secrets(read_secrets(job.secret_variables, os.environ))
        outcome = run(spark, job, once=True)
        applied += sum(t.upserts + t.deletes + t.stale for t in outcome.tables)
        errors += outcome.errors
    wall = time.perf_counter() - started
    jobs = store.jobsList(None).size() - jobs_before
    jvm_peak = peak_rss_mb(spark.sparkContext._gateway.proc.pid)  # type: ignore[union-attr]
    spark.stop()
    return {
        "tables": tables,
        "target": target_kind,
        "shape": shape,
        "wall_s": round(wall, 1),
        "spark_jobs": jobs,
        "changes_applied": applied,
        "driver_peak_mb": jvm_peak,
        "errors": errors,
        **batch_lines.later(),
    }


def floor(spark: Any, shape: str, root: Path, names: list[str], target: dict[str, Any]) -> None:
    """A floor's load of the tables `names` from the landing `root` into `target`."""
    from bench.one_program import one_program_lake, one_program_warehouse

    if shape == "plain":
        plain_tables(spark, root, names, target)
    elif target["kind"] == "lake":
        one_program_lake(spark, root, dict.fromkeys(names, COLUMNS), Path(target["path"]))
    else:
        tables = dict.fromkeys(names, COLUMNS)
        one_program_warehouse(spark, root, tables, _settings(target), target["schema"])


def _runs(work: Path, names: list[str], shape: str) -> list[tuple[Path, Path, list[str]]]:
    """The job runs of a shape: (work folder, landing root, tables) each. None for the
    floors; one per table for the baseline, each table's folder moved under a landing
    root of its own."""
    if shape in _FLOORS:
        return []
    if shape != "per-table":
        return [(work, work / "landing", names)]
    runs = []
    for name in names:
        root = work / "per-table" / name
        (root / "bench").mkdir(parents=True)
        (work / "landing" / "bench" / name).rename(root / "bench" / name)
        runs.append((work / "runs" / name, root, [name]))
    return runs


class _BatchLines(logging.Handler):
    """The job's batch log lines (docs/operations.md): each source batch's time."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: dict[int, float] = {}

    @classmethod
    def listening(cls) -> _BatchLines:
        """A handler on the job's logger, which logs its batches at INFO."""
        handler = cls()
        logger = logging.getLogger("stream_cdc")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        return handler

    def emit(self, record: logging.LogRecord) -> None:
        event = batch_event(record.getMessage())
        if event is not None:
            self.seconds[int(event["batch_id"])] = float(event["source_batch"]["total_s"])

    def later(self) -> dict[str, Any]:
        """The batches after the first: their count and median time (none with one)."""
        later = [s for b, s in sorted(self.seconds.items()) if b > 0]
        if not later:
            return {}
        return {"later_batches": len(later), "later_batch_s": round(statistics.median(later), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, nargs="+", default=[1, 20, 200])
    parser.add_argument("--targets", nargs="+", default=["lake", "warehouse"])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument(
        "--batches",
        type=int,
        default=1,
        help="waves of changes, a batch each after the loads' batch (1: one batch in all)",
    )
    parser.add_argument(
        "--baseline-tables",
        type=int,
        nargs="*",
        default=[20],
        help="table counts also run as one query per table (the baseline)",
    )
    parser.add_argument("--one", nargs=4, metavar=("TABLES", "TARGET", "SHAPE", "PORT"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args(argv)
    if args.one:
        tables, target, shape, port = args.one
        result = one(int(tables), target, shape, rows=args.rows, changes=args.changes,
                     port=int(port) or None, batches=args.batches)  # fmt: skip
        print(json.dumps(result))
        return 0
    from tests.postgres import PostgresServer

    warehouse = PostgresServer() if "warehouse" in args.targets else None
    results: list[dict[str, Any]] = []
    print(f"{args.rows} rows loaded and {args.changes} changes, spread over N tables")
    try:
        port = str(warehouse.port) if warehouse else "0"
        extra = ["--rows", str(args.rows), "--changes", str(args.changes)]
        extra += ["--batches", str(args.batches)]
        for target in args.targets:
            for tables in args.tables:
                shapes = ["plain", "one-program", "source"]
                shapes += ["per-table"] if tables in args.baseline_tables else []
                for shape in shapes:
                    case = [str(tables), target, shape, port, *extra]
                    results.append(run_case("bench.tables", case))
                    print(_line(results[-1], results), flush=True)
    finally:
        if warehouse is not None:
            warehouse.remove()
    print(f"written {write_results(results)}")
    return 0


def _settings(target: dict[str, Any]) -> Any:
    """The warehouse `target`'s connection (trust authentication: no password checked)."""
    from sinks.redshift import ConnectionSettings

    return ConnectionSettings(dialect="postgres", host=target["host"], port=target["port"],
                              database=target["database"], user=target["user"],
                              password="unused-with-trust-auth")  # fmt: skip


def _target(kind: str, work: Path, schema: str, port: int | None) -> dict[str, Any]:
    """The job's target section: a lake under `work`, or a warehouse `schema`."""
    if kind != "warehouse":
        return {"kind": "lake", "path": str(work / "lake")}
    os.environ["BENCH_WAREHOUSE_PASSWORD"] = "unused-with-trust-auth"
    return {"kind": "redshift", "dialect": "postgres", "host": "127.0.0.1", "port": port,
            "database": "warehouse", "user": "warehouse", "schema": schema,
            "password_env": "BENCH_WAREHOUSE_PASSWORD"}  # fmt: skip


def plain_tables(spark: Any, root: Path, names: list[str], target: dict[str, Any]) -> None:
    """The floor: each table's load and CDC files read, the last change per key kept
    (loads first, then file and row order), deletes dropped, the rows written; one Spark
    job a table, `PLAIN_THREADS` tables at a time."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from sinks.parallel import in_parallel

    columns = ", ".join(f"{n} {k}" for n, k in COLUMNS)

    def one_table(name: str) -> None:
        folder = root / "bench" / name
        where = F.input_file_name().alias("_file"), F.monotonically_increasing_id().alias("_row")
        cdc = spark.read.csv(f"{folder}/2*.csv", schema=f"op string, {columns}")
        load = spark.read.csv(f"{folder}/LOAD*.csv", schema=columns)
        rows = cdc.select("*", *where).unionByName(load.select(F.lit("L").alias("op"), "*", *where))
        order = Window.partitionBy("id").orderBy(
            (F.col("op") != "L").desc(), F.col("_file").desc(), F.col("_row").desc()
        )
        last = rows.withColumn("__n", F.row_number().over(order)).where("__n = 1 AND op != 'D'")
        kept = last.drop("__n", "op", "_file", "_row")
        if target["kind"] == "lake":
            kept.write.parquet(f"{target['path']}/{name}")
        else:
            url = f"jdbc:postgresql://{target['host']}:{target['port']}/{target['database']}"
            kept.write.jdbc(url, f"public.{target['schema']}_{name}", properties={
                "user": target["user"], "driver": "org.postgresql.Driver"})  # fmt: skip

    in_parallel({n: n for n in names}, one_table, PLAIN_THREADS)


def write_results(results: list[dict[str, Any]], path: Path = RESULTS) -> Path:
    """Every run (`one`'s result) as JSON (bench/results/tables.json; bench.report draws it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return path


_SHAPES = {
    "source": "one query",
    "plain": "plain floor",
    "one-program": "one program",
    "per-table": "query per table",
}
_FLOORS = ("plain", "one-program")


def _line(result: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """One run, with its time against the same shape's 1 table and, for the job, against
    the plain floor of the same tables."""
    same = [r for r in results if r["target"] == result["target"]]
    own = result["shape"] if result["shape"] in _FLOORS else "source"
    base = next(r for r in same if r["shape"] == own)
    ratio = result["wall_s"] / base["wall_s"] if base["wall_s"] else float("nan")
    floor = next(
        (r for r in same if r["shape"] == "plain" and r["tables"] == result["tables"]), None
    )
    versus = ""
    if result["shape"] == "source" and floor and floor["wall_s"]:
        versus = f", {result['wall_s'] / floor['wall_s']:4.2f}x plain"
    return (
        f"{result['target']:<9} {result['tables']:>4} tables, {_SHAPES[result['shape']]:<15} "
        f"{result['wall_s']:>7.1f} s ({ratio:5.2f}x 1 table{versus})  "
        f"{result['spark_jobs']:>6} Spark jobs  "
        f"driver {result['driver_peak_mb']:>5} MB"
        + (
            f"  {result['changes_applied']} changes applied"
            if result["shape"] not in _FLOORS
            else ""
        )
        + (f"  ERRORS {len(result['errors'])}" if result["errors"] else "")
        + _later(result, base)
    )


def _later(result: dict[str, Any], base: dict[str, Any]) -> str:
    """The median of the batches after the first, against 1 table's (with `--batches`)."""
    if "later_batch_s" not in result:
        return ""
    seconds, one_table = result["later_batch_s"], base.get("later_batch_s")
    ratio = f" ({seconds / one_table:4.2f}x 1 table)" if one_table else ""
    return f"  later batches: {result['later_batches']}, median {seconds:.2f} s{ratio}"


if __name__ == "__main__":
    raise SystemExit(main())

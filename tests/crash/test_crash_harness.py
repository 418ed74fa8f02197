"""Kill the job with SIGKILL at every crash point and at random moments; restart it.

The job runs as users run it (`spark-submit.sh`, its own process group) over a
stream of DMS change files (tests/crash/stream.py), one file per micro-batch. After
the kills, a last run completes and the table must equal the independently
computed state: no row lost, none doubled. `STREAM_CDC_RANDOM_KILLS` sets the
random kills per engine (default 1 here, to keep CI short; 20 for the nightly-size run).

`iceberg-scd2` writes the same stream into an SCD type 2 table: its current versions must
equal the latest state, and its whole history the history computed from the stream's
changes (what the same stream applied without kills gives: docs/engines.md's rules do not
depend on arrival order), each version once.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest
import yaml
from pyiceberg.table import StaticTable
from pyspark.sql import SparkSession

from sinks.redshift import ConnectionSettings
from tests.crash.stream import Row, Version, expected, generate, history

REPO = Path(__file__).resolve().parents[2]
POINTS = {
    "lake": ["lake.after_staging", "lake.after_commit", "lake.mid_publish"],
    "warehouse": ["warehouse.after_staging", "warehouse.after_commit"],
    "delta": ["delta.after_data_commit", "delta.after_commit"],
    "iceberg": ["iceberg.after_data_commit", "iceberg.after_commit"],
    "iceberg-scd2": ["iceberg.history.after_data_commit", "iceberg.history.after_commit"],
}
RANDOM_KILLS = int(os.environ.get("STREAM_CDC_RANDOM_KILLS", "1"))


@dataclass(frozen=True)
class Case:
    """One engine's run: its target, how to read it back, what the table adds."""

    engine: str  # a key of POINTS
    target: dict[str, Any]
    read: Callable[[], list[Row]]  # the live rows; of a history, its current versions
    table: dict[str, Any] = field(default_factory=dict)  # settings beside the stream's
    history: Callable[[], list[Version]] | None = None  # every version of a history


def _config(case: Case, work: Path, files_per_batch: int = 1) -> Path:
    config = {
        "name": "crash",
        "checkpoint": str(work / "checkpoint"),
        "source": {
            "kind": "files",
            "path": str(work / "landing"),
            "max_files_per_trigger": files_per_batch,
        },
        "tables": [
            {
                "name": "items",
                "source_schema": "shop",
                "keys": ["id"],
                "columns": [
                    {"name": "id", "type": "bigint"},
                    {"name": "name", "type": "string"},
                    {"name": "day", "type": "int"},
                    {"name": "ts", "type": "timestamp"},
                ],
                "sequence_by": ["ts"],
                "partition_by": ["day"] if case.target["kind"] != "redshift" else [],
                **case.table,
            }
        ],
        "target": case.target,
        "quarantine": {"path": str(work / "quarantine")},
    }
    path = work / "job.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class Job:
    """The job through spark-submit.sh; each run's output kept for the failure message."""

    def __init__(self, config: Path, work: Path) -> None:
        self.config, self.work, self.runs = config, work, 0

    def start(self, crash_at: str | None = None) -> subprocess.Popen[bytes]:
        self.runs += 1
        env = {**os.environ, "WAREHOUSE_PASSWORD": "unused-with-trust-auth"}
        env.pop("STREAM_CDC_CRASH_AT", None)
        if crash_at:
            env["STREAM_CDC_CRASH_AT"] = crash_at
        log = (self.work / f"run-{self.runs}.log").open("wb")
        return subprocess.Popen(
            [str(REPO / "spark-submit.sh"), "jobs/stream_cdc.py", "--config", str(self.config),
             "--once"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def complete(self, config: Path) -> None:
        """A last run to the end of the stream, with `config` (same checkpoint)."""
        self.config = config
        process = self.start()
        assert process.wait(timeout=900) == 0, self.tail()

    def tail(self) -> str:
        return (self.work / f"run-{self.runs}.log").read_text(errors="replace")[-3000:]


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have just finished
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=120)


def _check(actual: list[Row], expected: set[Row]) -> dict[str, int]:
    """Rows are known by their key."""
    return _compare("rows", actual, expected, lambda r: r[0])


def _check_history(actual: list[Version], expected: list[Version]) -> dict[str, int]:
    """A version is known by the change it came from (each change has its own name): one
    doubled is two versions of its key with the same validity start."""
    return _compare("versions", actual, expected, lambda v: v[1])


def _compare(
    what: str, actual: Sequence[Any], expected: Collection[Any], ident: Callable[[Any], object]
) -> dict[str, int]:
    """Items lost, doubled, extra (by `ident`) and different (by value) against `expected`."""
    counts = Counter(ident(item) for item in actual)
    want = {ident(item) for item in expected}
    report = {
        f"{what} lost": len(want - set(counts)),
        f"{what} doubled": sum(n - 1 for n in counts.values() if n > 1),
        f"{what} extra": len(set(counts) - want),
        f"{what} different": len(set(actual) - set(expected)),
    }
    print(f"crash harness ({len(expected)} {what} expected): {report}")
    return report


def _second(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _iceberg_rows(table: Path) -> list[dict[str, Any]]:
    """The rows of a Hadoop-catalog table, read by PyIceberg (a reader without Spark)."""
    hint = table / "metadata" / "version-hint.text"
    metadata = hint.parent / f"v{hint.read_text().strip()}.metadata.json"
    rows: list[dict[str, Any]] = (
        StaticTable.from_metadata(str(metadata)).scan().to_arrow().to_pylist()
    )
    return rows


@pytest.fixture(params=["lake", "warehouse", "delta", "iceberg", "iceberg-scd2"])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Case:
    if request.param == "lake":
        path = tmp_path / "lake"

        def read_lake() -> list[Row]:
            table = pads.dataset(str(path / "items"), format="parquet", partitioning="hive")
            return [
                (r["id"], r["name"], r["day"], r["ts"].strftime("%Y-%m-%d %H:%M:%S"))
                for r in table.to_table().to_pylist()
            ]

        return Case("lake", {"kind": "lake", "path": str(path)}, read_lake)
    if request.param == "delta":
        delta = tmp_path / "delta"
        spark: SparkSession = request.getfixturevalue("spark")

        def read_delta() -> list[Row]:
            rows = spark.read.format("delta").load(str(delta / "items")).collect()
            return [(r.id, r.name, r.day, r.ts.strftime("%Y-%m-%d %H:%M:%S")) for r in rows]

        return Case("delta", {"kind": "delta", "path": str(delta)}, read_delta)
    if request.param == "iceberg":
        iceberg = tmp_path / "iceberg"

        def read_iceberg() -> list[Row]:
            rows = _iceberg_rows(iceberg / "cdc" / "items")
            return [(r["id"], r["name"], r["day"], _second(r["ts"])) for r in rows]

        return Case("iceberg", {"kind": "iceberg", "path": str(iceberg)}, read_iceberg)
    if request.param == "iceberg-scd2":
        iceberg = tmp_path / "iceberg"

        def read_history() -> list[Version]:
            rows = _iceberg_rows(iceberg / "cdc" / "items")
            return [
                (r["id"], r["name"], r["day"], _second(r["ts"]), _second(r["valid_from"]),
                 _second(r["valid_to"]) if r["valid_to"] else None, r["is_current"])
                for r in rows
            ]  # fmt: skip

        def read_current() -> list[Row]:
            return [(i, n, d, ts) for i, n, d, ts, _, _, current in read_history() if current]

        return Case(
            "iceberg-scd2",
            {"kind": "iceberg", "path": str(iceberg)},
            read_current,
            # the stream's CSV files carry no commit time: its `ts` is the versions' validity
            table={"scd_type": 2, "commit_ts": "ts"},
            history=read_history,
        )
    settings: ConnectionSettings = request.getfixturevalue("postgres")
    schema = f"crash_{os.getpid()}_{int(time.time())}"

    def read_warehouse() -> list[Row]:
        with settings.connect() as conn:
            rows = conn.execute(f'SELECT id, name, day, ts FROM "{schema}".items').fetchall()
        return [(r[0], r[1], r[2], r[3].strftime("%Y-%m-%d %H:%M:%S")) for r in rows]

    return Case(
        "warehouse",
        {"kind": "redshift", "dialect": "postgres", "host": settings.host,
         "port": settings.port, "database": settings.database, "user": settings.user,
         "password_env": "WAREHOUSE_PASSWORD", "schema": schema},
        read_warehouse,
    )  # fmt: skip


def test_sigkill_at_every_crash_point_and_at_random_loses_and_doubles_nothing(
    case: Case, tmp_path: Path
) -> None:
    engine = case.engine
    # Enough files that every random kill can land while batches are still running.
    changes = generate(tmp_path / "landing" / "shop" / "items", files=6 + 3 * RANDOM_KILLS)
    job = Job(_config(case, tmp_path), tmp_path)
    kills = 0
    for point in POINTS[engine]:
        process = job.start(crash_at=point)
        code = process.wait(timeout=900)
        assert code != 0, f"{point} was never reached\n{job.tail()}"
        kills += 1
        lake = tmp_path / "lake" / "items"
        if engine == "lake" and lake.exists():  # between crash and restart, a reader
            pads.dataset(str(lake), format="parquet", partitioning="hive").to_table()
    rng = random.Random(11)
    for _ in range(RANDOM_KILLS):
        process = job.start()
        time.sleep(rng.uniform(12, 30))  # after start-up, somewhere in the batches
        if process.poll() is None:
            _kill(process)
            kills += 1
    # The kills are done: the rest of the stream in one batch (fewer runs of the fixed cost
    # per batch; the checkpoint's planned batches are replayed as planned first).
    job.complete(_config(case, tmp_path, files_per_batch=100))

    report = _check(case.read(), expected(changes))
    print(f"crash harness ({engine}): kills survived {kills}")
    assert report == {"rows lost": 0, "rows doubled": 0, "rows extra": 0, "rows different": 0}
    if case.history:
        versions = _check_history(case.history(), history(changes))
        assert versions == {
            "versions lost": 0, "versions doubled": 0, "versions extra": 0,
            "versions different": 0,
        }  # fmt: skip
    assert kills >= len(POINTS[engine])

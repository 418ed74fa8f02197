"""`status` on what a real job run left behind: its checkpoint, its record, its lake.

One small demo run (DMS files -> lake, `--once`) is shared by the module's tests (a
session fixture: once per test worker that runs one of them, however the worker
interleaves modules; a module fixture would be torn down and run again); each test
reads it, and a test that breaks something breaks a copy of the checkpoint, or undoes
what it added. A table the job stops: tests/e2e/test_discovery_job.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest
from pyspark.sql import SparkSession

from config import JobConfig, load_config
from runtime.journal import RunRecord
from runtime.status import BROKEN, HEALTHY, LAGGING, health
from runtime.status_read import read_status
from simulators.cases import generate
from tests.e2e.launch import REPO, run_job

DEMO = REPO / "conf" / "demo.yaml"


@dataclass
class DemoRun:
    work: Path
    stdout: str
    rows: int  # what the job's summary says the table holds
    applied: int  # upserts + deletes of the summary
    quarantined: int
    batches: int
    files: int  # landing files generated

    @property
    def checkpoint(self) -> Path:
        return self.work / "work" / "demo" / "checkpoint"

    def overrides(self, checkpoint: Path | None = None) -> list[str]:
        demo = self.work / "work" / "demo"
        return [
            f"source.path={self.work / 'landing'}",
            f"checkpoint={checkpoint or self.checkpoint}",
            f"target.path={demo / 'lake'}",
            f"quarantine.path={demo / 'quarantine'}",
        ]

    def config(self, checkpoint: Path | None = None) -> JobConfig:
        return load_config(DEMO, self.overrides(checkpoint))


def status(
    run: DemoRun, *args: str, checkpoint: Path | None = None
) -> subprocess.CompletedProcess[str]:
    sets = [a for o in run.overrides(checkpoint) for a in ("--set", o)]
    return subprocess.run(
        [sys.executable, "-m", "jobs.status", "--config", str(DEMO), *sets, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.fixture(scope="session")  # kept while a test worker interleaves other modules
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    work = tmp_path_factory.mktemp("status")
    reference = generate(work / "landing", initial_rows=200, cdc_files=2, changes_per_file=60)
    job = run_job(work, "--config", str(DEMO), "--set", f"source.path={work / 'landing'}", "--once")
    assert job.returncode == 0, job.stderr[-4000:]
    summary = job.stdout
    rows = int(summary.split("rows in the table")[1].split()[0])
    upserts, deletes = (int(summary.split("applied")[1].split()[i]) for i in (0, 2))
    batches = int(summary.split("cases:")[1].split()[0])
    run = DemoRun(
        work, summary, rows, upserts + deletes, reference.bad_records, batches, len(reference.files)
    )
    assert run.rows == len(reference.final_rows)
    yield run


def test_status_after_a_run_shows_its_batches_rows_and_nothing_pending(demo: DemoRun) -> None:
    shown = status(demo)
    assert shown.returncode == HEALTHY, shown.stdout + shown.stderr[-3000:]
    out = shown.stdout
    assert out.startswith("cases_demo: HEALTHY")
    assert "(--once)" in out and ": ok" in out
    assert "query    source (files): stopped; last batch" in out
    assert f"files pending 0, files read {demo.files}" in out
    line = next(row for row in out.splitlines() if row.startswith("cases "))
    cells = line.split()
    # table, last batch, (ago), rows, tombstones, applied, last hour, quarantined, last hour
    assert cells[0] == "cases" and cells[1] == str(demo.batches - 1)
    numbers = [int(c) for c in cells[-6:]]
    assert numbers[0] == demo.rows
    assert numbers[1] == tombstones_in_key_index(demo.work / "work" / "demo" / "lake" / "cases")
    assert numbers[1] > 0  # the demo deletes rows
    assert numbers[2:] == [demo.applied, demo.applied, demo.quarantined, demo.quarantined]


def tombstones_in_key_index(table: Path) -> int:
    keys = pads.dataset(str(table / "_cdc" / "keys"), format="parquet", partitioning="hive")
    return int(pc.sum(keys.to_table(columns=["_deleted"])["_deleted"]).as_py() or 0)


def test_status_json_carries_the_same_for_scripts(demo: DemoRun) -> None:
    shown = status(demo, "--json")
    assert shown.returncode == HEALTHY, shown.stderr[-3000:]
    report = json.loads(shown.stdout)
    assert report["health"] == "healthy" and report["exit_code"] == 0
    (query,) = report["queries"]
    assert query["pending"] == 0 and query["error"] is None
    assert query["last_batch_id"] == demo.batches - 1
    (table,) = report["tables"]
    assert table["rows"] == demo.rows
    assert table["applied"] == table["applied_last_hour"] == demo.applied
    assert table["quarantined"] == demo.quarantined
    assert report["run"]["outcome"] == "ok" and report["run"]["errors"] == []


def test_new_landing_files_are_pending_and_lag_beyond_max_lag(demo: DemoRun) -> None:
    landing = demo.work / "landing" / "public" / "cases"
    newest = sorted(p for p in landing.iterdir() if p.is_file())[-1]
    added = [landing / f"zz-late-{i}.csv" for i in range(2)]
    hidden = landing / ".in-progress.csv"  # Spark never reads a hidden file: not pending
    try:
        written = time.time() - 600  # landed 10 minutes ago
        for path in [*added, hidden]:
            shutil.copy(newest, path)
            os.utime(path, (written, written))
        within = status(demo, "--json", "--max-lag", "1 hour")
        lagging = status(demo, "--max-lag", "30s")
    finally:
        for path in [*added, hidden]:
            path.unlink(missing_ok=True)
    assert within.returncode == HEALTHY, within.stderr[-3000:]
    query = json.loads(within.stdout)["queries"][0]
    assert query["pending"] == 2
    assert query["oldest_pending_ms"] is not None
    assert lagging.returncode == LAGGING, lagging.stdout + lagging.stderr[-3000:]
    assert lagging.stdout.startswith("cases_demo: LAGGING")
    reason = r"! query source: 2 pending, the oldest for 1\d min \(max lag 30 s\)"
    assert re.search(reason, lagging.stdout), lagging.stdout
    assert re.search(r"files pending 2, oldest 1\d min", lagging.stdout), lagging.stdout


def test_an_unreadable_checkpoint_is_broken_with_the_file_named(
    demo: DemoRun, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(demo.checkpoint, checkpoint)
    last = demo.batches - 1
    (checkpoint / "source" / "offsets" / str(last)).write_text("garbage\n", encoding="utf-8")
    shown = status(demo, checkpoint=checkpoint)
    assert shown.returncode == BROKEN, shown.stdout + shown.stderr[-3000:]
    assert shown.stdout.startswith("cases_demo: BROKEN")
    expected = f"query source: checkpoint unreadable: offsets/{last}: not an offset log entry"
    assert expected in shown.stdout


def test_a_run_that_ended_on_a_fatal_error_is_broken_with_its_reason(
    demo: DemoRun, spark: SparkSession, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(demo.checkpoint, checkpoint)
    run = RunRecord(spark, str(checkpoint), once=False)
    run.started()
    run.ended("failed", ["cases_demo.source: [CANNOT_READ_FILE] Error while reading file x"])

    report = read_status(spark, demo.config(checkpoint), max_lag_s=900)
    assert health(report) == BROKEN
    assert report.reasons == [
        "the last run ended on a fatal error: cases_demo.source: [CANNOT_READ_FILE] Error "
        "while reading file x"
    ]
    assert report.queries[0].state == "failed"

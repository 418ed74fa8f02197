"""The job as an operator meets it: where its scratch goes, how it stops, how it fails.

Through spark-submit.sh, on the demo's table and a landing folder, like
tests/e2e/test_demo_job.py.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from simulators.cases import generate
from tests.e2e.launch import (
    JOB,
    LAUNCHER,
    REPO,
    deliver,
    lake_row_count,
    start_job,
    stop_job,
    wait_for,
)

DEMO = str(REPO / "conf" / "demo.yaml")
# Spark's own scratch folders, which a run must keep out of the system temp dir.
SPARK_SCRATCH = ("spark-*", "blockmgr-*", "userFiles-*")


def _start(cwd: Path, marker: Path, *args: str) -> subprocess.Popen[str]:
    """The demo's job, shipping `marker` with --files: Spark copies it into its scratch,
    so it shows where that is."""
    return start_job(cwd, "--config", DEMO, *args, launcher_args=("--files", str(marker)))


def _marker(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f"marker-{uuid.uuid4().hex}.txt"
    marker.write_text("scratch marker\n")
    return marker


def _copies(root: Path, marker: Path) -> list[Path]:
    """Copies of `marker` in Spark's scratch folders under `root` (its userFiles-*)."""
    found: list[Path] = []
    for pattern in SPARK_SCRATCH:
        for folder in root.glob(pattern):
            found += folder.rglob(marker.name)
    return found


def _runs(scratch: Path) -> set[str]:
    return {p.name for p in scratch.glob("run-*")}


def test_a_killed_runs_scratch_is_removed_at_the_next_start_and_ctrl_c_is_quiet(
    tmp_path: Path,
) -> None:
    reference = generate(tmp_path / "generated", cdc_files=3, changes_per_file=50, bad_records=0)
    landing = tmp_path / "landing" / "public" / "cases"
    for file in reference.files[:-2]:
        deliver(file, landing)
    args = ("--set", f"source.path={tmp_path / 'landing'}", "--set", "trigger_interval=1 second")
    lake = tmp_path / "work" / "demo" / "lake" / "cases"
    scratch = tmp_path / "work" / "scratch"
    system_tmp = Path(tempfile.gettempdir())

    # A run killed with SIGKILL after its first batch: its scratch stays behind.
    killed_marker = _marker(tmp_path / "markers")
    killed = _start(tmp_path, killed_marker, *args)
    try:
        assert wait_for((lake / "_cdc" / "manifest").exists, 300), "no batch ran"
    finally:
        stop_job(killed, signal.SIGKILL)
    (dead_run,) = _runs(scratch)
    assert _copies(scratch / dead_run, killed_marker), "Spark's scratch is not in the run's folder"

    # The next run removes the dead run's scratch and keeps its own under work/.
    live_marker = _marker(tmp_path / "markers")
    live = _start(tmp_path, live_marker, *args)
    try:
        assert wait_for(lambda: len(_runs(scratch) - {dead_run}) == 1, 120), "no run folder"
        (live_run,) = _runs(scratch) - {dead_run}
        for file in reference.files[-2:]:
            deliver(file, landing)
        assert wait_for(lambda: lake_row_count(lake) == len(reference.final_rows), 300), (
            "files unseen"
        )
        assert dead_run not in _runs(scratch), "the dead run's scratch was not removed"
        assert _copies(scratch / live_run, live_marker)

        # Another start while the job runs: the live run's scratch is not touched.
        other = subprocess.run(
            [str(LAUNCHER), str(JOB), "--config", DEMO, "--print-config"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert other.returncode == 0, other.stderr[-2000:]
        assert live_run in _runs(scratch), "a live run's scratch was removed"
        assert _copies(scratch / live_run, live_marker)
        time.sleep(2)
    finally:
        out, err = stop_job(live, signal.SIGINT)  # what Ctrl-C in a terminal does

    # Ctrl-C: the batch finishes, the job exits 0 and says nothing alarming.
    logs = out + err
    (tmp_path / "stopped.log").write_text(logs)
    assert live.returncode == 0, err[-4000:]
    assert "stop requested" in logs, logs[-4000:]
    assert f"rows in the table    {len(reference.final_rows)}" in out
    for word in ("ERROR", "Traceback", "Exception", "py4j"):
        assert word not in logs, f"{word!r} in the log of a clean stop:\n{logs[-4000:]}"
    # Nothing of either run in the system temp dir.
    assert not _copies(system_tmp, killed_marker) and not _copies(system_tmp, live_marker)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _failing_run(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    generate(tmp_path / "landing", cdc_files=1, changes_per_file=20, bad_records=2)
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the job expects a folder\n")
    sets = [item for o in overrides for item in ("--set", o.format(blocker=blocker))]
    landing = f"source.path={tmp_path / 'landing'}"
    return subprocess.run(
        [str(LAUNCHER), str(JOB), "--config", DEMO, "--once", "--set", landing, *sets],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one log, in the order an operator reads it
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _assert_one_line_reason(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """The log ends with `error: <reason>` on one line, and shows no Python trace."""
    log = result.stdout
    last = _last_line(log)
    assert last.startswith("error: "), log[-4000:]
    assert all(word in last for word in words), last
    assert len(last) < 600, last
    assert "Traceback" not in log, log[-4000:]


def test_a_target_that_cannot_be_written_stops_the_start_with_one_line_and_exit_3(
    tmp_path: Path,
) -> None:
    result = _failing_run(tmp_path, "target.path={blocker}/lake")
    assert result.returncode == 3, result.stdout[-4000:]
    _assert_one_line_reason(result, "could not start", "a-file")


def test_a_batch_that_fails_stops_the_job_with_one_line_and_exit_1(tmp_path: Path) -> None:
    # The quarantine is only written when a batch holds a bad record.
    result = _failing_run(tmp_path, "quarantine.path={blocker}/quarantine")
    assert result.returncode == 1, result.stdout[-4000:]
    _assert_one_line_reason(result, "cases_demo.source", "not a directory", "a-file")
    # Spark's trace of the failed query went to a file, not to the console.
    assert "\tat " not in result.stdout, result.stdout[-4000:]
    trace = (tmp_path / "work" / "logs" / "spark-errors.log").read_text()
    assert "terminated with error" in trace and "\tat " in trace

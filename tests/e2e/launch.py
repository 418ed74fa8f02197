"""The job as the e2e tests launch it: through spark-submit.sh, in its own process group
(what a terminal's Ctrl-C reaches), with the landing and lake helpers they share."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "spark-submit.sh"
JOB = REPO / "jobs" / "stream_cdc.py"


def run_job(
    cwd: Path, *args: str, timeout: int = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The job run to its end (`--once` among `args`, or a failure), output captured."""
    return subprocess.run(
        [str(LAUNCHER), str(JOB), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
        env={**os.environ, **(env or {})},
    )


def start_job(
    cwd: Path,
    *args: str,
    launcher_args: tuple[str, ...] = (),
    stdout: int | IO[Any] = subprocess.PIPE,
    stderr: int | IO[Any] = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """The job started in its own process group; `launcher_args` go before the app."""
    return subprocess.Popen(
        [str(LAUNCHER), *launcher_args, str(JOB), *args],
        cwd=cwd,
        stdout=stdout,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def stop_job(
    proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT, timeout: float = 180
) -> tuple[str, str]:
    """`sig` to the job's process group (SIGINT: what Ctrl-C does); its output. A job
    still alive after `timeout` seconds is killed."""
    os.killpg(proc.pid, sig)
    try:
        out, err = proc.communicate(timeout=timeout)
        return out or "", err or ""
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def deliver(file: Path, folder: Path) -> None:
    """Land a file the way an uploader should: whole, under its final name at once."""
    folder.mkdir(parents=True, exist_ok=True)
    hidden = folder / f".{file.name}.tmp"
    hidden.write_bytes(file.read_bytes())
    hidden.rename(folder / file.name)


def lake_row_count(lake: Path) -> int:
    """Rows of a lake table by its newest manifest; -1 before its first commit."""
    manifests = sorted((lake / "_cdc" / "manifest").glob("*.json"))
    if not manifests:
        return -1
    partitions = json.loads(manifests[-1].read_text())["partitions"]
    return sum(int(p["rows"]) for p in partitions.values())


def wait_for(condition: Callable[[], Any], seconds: float) -> bool:
    """Whether `condition` held within `seconds` (checked every second)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except (OSError, ValueError):
            pass
        time.sleep(1)
    return False

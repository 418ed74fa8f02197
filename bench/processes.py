"""One case of a benchmark in a process of its own, so that its wall time, Spark jobs
and peak memory are its own: the benchmark runs itself with `--one ARGS`, and that run
prints its result as the last line of its output, in JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

__all__ = ["run_case"]


def run_case(module: str, args: list[str], timeout_s: int = 7200) -> dict[str, Any]:
    """The result of `python -m MODULE --one ARGS`; its error output if it failed."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--one", *args],
        capture_output=True, text=True, check=False, timeout=timeout_s,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result

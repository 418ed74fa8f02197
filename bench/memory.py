"""Peak memory of a benchmark's processes: the driver's JVM and the Python driver.

Linux keeps each process's peak resident set (`VmHWM` in /proc/<pid>/status): heap and
off-heap, what the machine had to give. A benchmark prints it once at its end: the peak
of the whole run, every side of it included (they share one driver)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["peak_line", "peak_rss_mb"]


def peak_rss_mb(pid: int) -> int:
    """The peak resident memory of a process, in MB (0 where the system does not say)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def peak_line(spark: Any) -> str:
    """One line: the peaks of the driver's JVM (with its heap setting) and of Python."""
    jvm = peak_rss_mb(spark.sparkContext._gateway.proc.pid)
    heap = spark.sparkContext.getConf().get("spark.driver.memory", "1g")
    return (
        f"peak memory of the run: driver JVM {jvm:,} MB resident (heap {heap}), "
        f"Python driver {peak_rss_mb(os.getpid()):,} MB"
    )

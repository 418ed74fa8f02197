"""Iceberg's vectorized Parquet reads, off where the session's Iceberg and Spark crash.

Iceberg 1.7.1's vectorized reader under Spark 3.5.4 crashed the JVM here (SIGSEGV in
`ArrowBuf.setBytes`, an executor task reading the table), in two runs of two of
100,000-change batches into a 1M-row table; with 1.8.1, or with vectorized reads off,
the same runs finished (10.39 s a batch with 1.7.1 reading row by row, 10.13 s with
1.8.1's vectorized reads: docs/benchmarks.md). Spark 3.5.4 changed how a scan's columnar
batches are released; Iceberg followed in a release after 1.7.1 (apache/iceberg#11731,
aimed at 1.7.2).

The job pins 1.8.1 for spark-submit (jars/pom.xml), but a cluster may bring its own
Iceberg: Glue 5.0 runs its own 1.7.1 build with its own Spark 3.5.4. So when the
session's Iceberg is older than 1.7.2 and its Spark 3.5.4 or later, the engine turns
`spark.sql.iceberg.vectorization.enabled` off for the session, unless the session sets
it (a user's choice is kept), and says so once in the log.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from py4j.protocol import Py4JError
from pyspark.sql import SparkSession

__all__ = ["VECTORIZATION", "guard_vectorized_reads", "vectorized_reads_crash"]

log = logging.getLogger("stream_cdc")

VECTORIZATION = "spark.sql.iceberg.vectorization.enabled"
_FIXED_IN = (1, 7, 2)  # the first Iceberg release aimed at Spark 3.5.4's change
_CHANGED_IN = (3, 5, 4)  # the first Spark release with it


def vectorized_reads_crash(iceberg: str, spark: str) -> bool:
    """Whether Iceberg `iceberg`'s vectorized reader is of the versions that crashed
    under Spark `spark` ("1.7.1", "1.7.1-amzn-0", "3.5.4"...). A version that does not
    start with numbers is not judged."""
    ours, theirs = _numbers(iceberg), _numbers(spark)
    if ours is None or theirs is None:
        return False
    return ours < _FIXED_IN and theirs >= _CHANGED_IN


def guard_vectorized_reads(spark: SparkSession) -> bool:
    """Turn the session's Iceberg vectorized reads off when its Iceberg and Spark are a
    pair that crashed, unless the session sets them; True when it did."""
    if spark.conf.get(VECTORIZATION, None) is not None:
        return False
    iceberg = _iceberg_version(spark)
    if iceberg is None or not vectorized_reads_crash(iceberg, spark.version):
        return False
    spark.conf.set(VECTORIZATION, "false")
    log.warning(
        "Iceberg %s under Spark %s: Iceberg's vectorized Parquet reads are turned off (that "
        "pair crashed the JVM reading tables; Iceberg 1.7.2 or later reads them safely; set "
        "%s to keep your own choice)",
        iceberg,
        spark.version,
        VECTORIZATION,
    )
    return True


def _iceberg_version(spark: SparkSession) -> str | None:
    """The session's Iceberg version; None when its runtime does not say (not judged)."""
    jvm: Any = spark.sparkContext._jvm
    try:
        return str(jvm.org.apache.iceberg.IcebergBuild.version())
    except (Py4JError, TypeError):  # no such class: py4j gives a package, not callable
        return None


def _numbers(version: str) -> tuple[int, int, int] | None:
    found = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version.strip())
    if found is None:
        return None
    major, minor, patch = found.groups()
    return int(major), int(minor), int(patch or 0)

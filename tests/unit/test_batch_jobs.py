"""A source batch counts its Spark jobs, those of the tables it applies side by side too
(sinks/target.py `in_parallel`, runtime/metrics.py `JobCount`), and times its phases."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

from runtime.metrics import JobCount, Phases
from sinks.parallel import in_parallel

GROUP = "spark.jobGroup.id"


@contextmanager
def job_group(spark: SparkSession, name: str) -> Iterator[None]:
    """What a streaming query does for its batches: its jobs in the group of its run."""
    spark.sparkContext.setJobGroup(name, f"{name} batch")
    try:
        yield
    finally:
        spark.sparkContext.setLocalProperty(GROUP, None)  # type: ignore[arg-type]


def test_jobs_of_tables_applied_side_by_side_are_the_batchs(spark: SparkSession) -> None:
    tables = {f"t{i}": i for i in range(4)}
    with job_group(spark, "query-run-1"):
        jobs = JobCount(spark.sparkContext)
        in_parallel(tables, lambda i: spark.range(i + 1).collect(), parallel=4)
        counted = jobs.since()
        caller_group = spark.sparkContext.getLocalProperty(GROUP)
    assert counted == 4  # one collect per table, each in a thread of its own
    assert caller_group == "query-run-1"


def test_jobs_of_another_group_are_not_counted(spark: SparkSession) -> None:
    with job_group(spark, "query-run-2"):
        jobs = JobCount(spark.sparkContext)
        spark.range(3).collect()
        other = threading.Thread(target=lambda: spark.range(2).collect())  # not the batch's
        other.start()
        other.join(timeout=60)
        assert jobs.since() == 1


def test_threads_leave_no_group_behind(spark: SparkSession) -> None:
    with job_group(spark, "query-run-3"):
        in_parallel({"a": 1, "b": 2}, lambda i: spark.range(i).collect(), parallel=2)
    # the pool's threads are gone; a new thread's jobs belong to no group
    seen: list[str | None] = []
    worker = threading.Thread(
        target=lambda: seen.append(spark.sparkContext.getLocalProperty(GROUP))
    )
    worker.start()
    worker.join(timeout=60)
    assert seen == [None]


def test_phases_add_up_their_blocks_times() -> None:
    timings: dict[str, float] = {}
    phase = Phases(timings)
    for _ in range(2):
        with phase("decode_s"):
            time.sleep(0.02)
    with phase("apply_s"):
        pass
    assert timings["decode_s"] >= 0.04
    assert 0 <= timings["apply_s"] < timings["decode_s"]

"""Run work side by side in threads, the Spark jobs they start in the caller's job group."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from pyspark import SparkContext

__all__ = ["in_parallel", "inherit_job_group"]

_T = TypeVar("_T")
_R = TypeVar("_R")


def in_parallel(items: Mapping[str, _T], work: Callable[[_T], _R], parallel: int) -> dict[str, _R]:
    """`work` on every item, at most `parallel` at once; the first error is raised once
    all have ended (a table never stops halfway because another failed). Spark jobs the
    threads start belong to the caller's job group (`inherit_job_group`)."""
    if parallel <= 1 or len(items) <= 1:
        return {name: work(item) for name, item in items.items()}
    work = inherit_job_group(work)
    with ThreadPoolExecutor(max_workers=min(parallel, len(items))) as pool:
        futures = {name: pool.submit(work, item) for name, item in items.items()}
    errors = [f.exception() for f in futures.values() if f.exception() is not None]
    if errors:
        raise errors[0]  # type: ignore[misc]
    return {name: future.result() for name, future in futures.items()}


# Spark's local properties that say whose a job is: a streaming query's batch runs its
# jobs in the query's group (its run id), which `stop()` cancels, with the batch's
# description (what the UI shows); the batch handler counts its jobs by the group.
_JOB_PROPERTIES = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")


def inherit_job_group(work: Callable[[_T], _R]) -> Callable[[_T], _R]:
    """`work` run in another thread with the calling thread's job group and description.

    Python threads do not inherit them (each talks to a JVM thread of its own), so the
    jobs of tables applied side by side would belong to no query. Each thread gets its
    own copies: pyspark's `inheritable_thread_target` hands every thread the same
    properties object, where Spark also keeps each running query's execution id."""
    context = SparkContext._active_spark_context
    if context is None:
        return work
    values = {key: context.getLocalProperty(key) for key in _JOB_PROPERTIES}

    def wrapped(item: _T) -> _R:
        for key, value in values.items():
            context.setLocalProperty(key, value)  # type: ignore[arg-type]
        try:
            return work(item)
        finally:
            for key in values:
                context.setLocalProperty(key, None)  # type: ignore[arg-type]

    return wrapped

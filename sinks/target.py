"""Apply one source batch to every table it touches: the target's side of a batch.

A source's micro-batch holds changes of many tables. How they are applied together
depends on what the target can promise:

* lake, Delta and Iceberg tables are independent tables: each table's engine applies its
  changes on its own (each atomic and idempotent), several tables at once
  (`parallel_tables` threads: Spark runs their jobs side by side);
* the warehouse applies the changes of every table in ONE database transaction
  (sinks/redshift/batch.py), so a reader never sees half of a source transaction whose
  changes arrived in the same batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from pyspark import SparkContext
from pyspark.sql import DataFrame

from sinks.base import BatchResult, Engine, TextChanges

__all__ = ["EachTable", "Target", "in_parallel", "inherit_job_group"]

_T = TypeVar("_T")
_R = TypeVar("_R")


class Target(Protocol):
    """Applies a batch of several tables: {table: (its engine, its changes)}. A table's
    changes come typed as text with other tables' (`TextChanges`) only where
    `stages_text` says its engine takes them."""

    def stages_text(self, engine: Engine) -> bool: ...

    def apply(
        self,
        batch: Mapping[str, tuple[Engine, DataFrame | TextChanges]],
        batch_id: int,
        writer_id: str,
    ) -> dict[str, BatchResult]: ...


class EachTable:
    """Tables applied one engine each, `parallel` at a time (lake, Delta, Iceberg)."""

    def __init__(self, parallel: int = 4) -> None:
        self._parallel = parallel

    def stages_text(self, engine: Engine) -> bool:
        """Never: each engine writes typed rows of its own."""
        return False

    def apply(
        self,
        batch: Mapping[str, tuple[Engine, DataFrame | TextChanges]],
        batch_id: int,
        writer_id: str,
    ) -> dict[str, BatchResult]:
        def one(pair: tuple[Engine, DataFrame | TextChanges]) -> BatchResult:
            engine, changes = pair
            assert isinstance(changes, DataFrame), "an engine of its own takes typed changes"
            return engine.apply(changes, batch_id, writer_id)

        return in_parallel(batch, one, self._parallel)


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

"""One source batch into the warehouse: every table's changes in ONE transaction.

1. stage every table's changes: into PostgreSQL, every table's staging table created in
   one transaction and filled by ONE Spark job (copy_batch.py); through S3 (Redshift),
   several tables at a time, each with its own Spark write;
2. one transaction: the LOCKs of the denormalized tables the batch feeds, then each
   table's merge, denormalized refresh and ledger row, in the order the tables came;
3. read each table's counts from the ledger, drop the staging tables.

A customer and a purchase inserted in one source transaction and read in one batch are
visible together or not at all. Every table of a batch commits with the others, so a
ledger row of one is a ledger row of all: a replayed batch is skipped whole. While the
warehouse is unreachable the whole batch is retried (retry.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from pyspark.sql import DataFrame

from sinks.base import BatchResult, Engine
from sinks.crash import crash_point
from sinks.redshift.copy_batch import copy_tables
from sinks.redshift.engine import Staged, WarehouseEngine
from sinks.redshift.retry import retrying
from sinks.redshift.statements import Statement
from sinks.target import in_parallel

__all__ = ["WarehouseBatch"]


class WarehouseBatch:
    """The warehouse's `Target`: tables staged side by side, merged in one transaction."""

    def __init__(self, *, retry_s: float = 300.0, parallel: int = 4) -> None:
        self._retry_s = retry_s
        self._parallel = parallel

    def apply(
        self, batch: Mapping[str, tuple[Engine, DataFrame]], batch_id: int, writer_id: str
    ) -> dict[str, BatchResult]:
        engines: dict[str, WarehouseEngine] = {}
        for table, (engine, _) in batch.items():
            assert isinstance(engine, WarehouseEngine), f"{table}: not a warehouse table"
            engines[table] = engine
        if not engines:
            return {}
        return retrying(
            lambda: self._apply_once(batch, engines, batch_id, writer_id),
            retry_s=self._retry_s,
            what=f"batch {batch_id} ({len(engines)} tables)",
        )

    def _apply_once(
        self,
        batch: Mapping[str, tuple[Engine, DataFrame]],
        engines: Mapping[str, WarehouseEngine],
        batch_id: int,
        writer_id: str,
    ) -> dict[str, BatchResult]:
        copied = {t: pair for t, pair in batch.items() if engines[t].copies}
        staged = self._copy_all(copied, engines, batch_id, writer_id)
        staged |= in_parallel(
            {t: (engines[t], changes) for t, (_, changes) in batch.items() if t not in copied},
            lambda pair: pair[0].stage(pair[1], batch_id, writer_id),
            self._parallel,
        )
        staged = {t: staged[t] for t in batch}  # the order the tables came in
        crash_point("warehouse.after_staging")
        pending = [t for t, s in staged.items() if not s.skipped]
        refreshed: dict[str, int] = {}
        if pending:
            locks: dict[str, Statement] = {}
            for table in pending:
                locks.update({s.sql: s for s in engines[table].locks()})
            owners: list[str | None] = [None] * len(locks)
            statements = list(locks.values())
            for table in pending:
                merge = engines[table].merge_statements(staged[table])
                statements += merge
                owners += [table] * len(merge)
            executor = engines[pending[0]].executor
            mark = time.monotonic()
            affected = executor.transaction(statements)
            for table in pending:
                staged[table].timings["merge_s"] = time.monotonic() - mark
            for owner, statement, rows in zip(owners, statements, affected, strict=True):
                if owner is not None and statement.tally == "refreshed":
                    refreshed[owner] = refreshed.get(owner, 0) + rows
        crash_point("warehouse.after_commit")
        return {t: engines[t].finish(staged[t], refreshed.get(t, 0)) for t in staged}

    def _copy_all(
        self,
        batch: Mapping[str, tuple[Engine, DataFrame]],
        engines: Mapping[str, WarehouseEngine],
        batch_id: int,
        writer_id: str,
    ) -> dict[str, Staged]:
        """Step 1 for the tables staged by COPY from the executors: their staging tables
        created in one transaction, then filled by one Spark job (copy_batch.py)."""
        if not batch:
            return {}
        staged = {t: engines[t].prepare(changes, batch_id, writer_id) for t, (_, changes)
                  in batch.items()}  # fmt: skip
        creates, parts = [], []
        for table, (_, changes) in batch.items():
            if not staged[table].skipped:
                create, part = engines[table].copy_part(changes, staged[table])
                creates += create
                parts.append(part)
        if parts:
            first = engines[next(iter(batch))]
            first.executor.transaction(creates)
            copy_tables(first.settings, parts)
        done = time.monotonic()
        for one in staged.values():
            one.timings["stage_s"] = done - one.started
        return staged

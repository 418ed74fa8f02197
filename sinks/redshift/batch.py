"""One source batch into the warehouse: every table's changes in ONE transaction.

1. make every table's tables fit its changes and ask the ledger, in one query, which
   tables the batch was applied to already (skipped); stage the others' changes: into
   PostgreSQL, every table's staging table created in one transaction and filled by ONE
   Spark job (copy_batch.py); through S3 (Redshift), several tables at a time, each with
   its own Spark write;
2. one transaction: the LOCKs of the denormalized tables the batch feeds, then each
   table's merge, denormalized refresh and ledger row, in the order the tables came;
3. read every table's counts from the ledger in one query, drop the staging tables in
   one transaction (on Redshift's Data API each statement is a request of its own).

A customer and a purchase inserted in one source transaction and read in one batch are
visible together or not at all. Every table of a batch commits with the others, so a
ledger row of one is a ledger row of all: a replayed batch is skipped whole. While the
warehouse is unreachable the whole batch is retried (retry.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from pyspark.sql import DataFrame

from sinks.base import BatchResult, Engine, TextChanges
from sinks.crash import crash_point
from sinks.parallel import in_parallel
from sinks.redshift.copy_batch import copy_tables
from sinks.redshift.engine import Changes, Staged, WarehouseEngine
from sinks.redshift.retry import retrying
from sinks.redshift.statements import Statement

__all__ = ["WarehouseBatch"]


class WarehouseBatch:
    """The warehouse's `Target`: tables staged side by side, merged in one transaction."""

    def __init__(self, *, retry_s: float = 300.0, parallel: int = 4) -> None:
        self._retry_s = retry_s
        self._parallel = parallel

    def stages_text(self, engine: Engine) -> bool:
        """Whether the engine takes its changes typed as text with other tables'
        (`TextChanges`): a table staged by COPY from the executors, one row a key."""
        return isinstance(engine, WarehouseEngine) and engine.takes_text

    def apply(
        self, batch: Mapping[str, tuple[Engine, Changes]], batch_id: int, writer_id: str
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
        batch: Mapping[str, tuple[Engine, Changes]],
        engines: Mapping[str, WarehouseEngine],
        batch_id: int,
        writer_id: str,
    ) -> dict[str, BatchResult]:
        staged = self._prepare(batch, engines, batch_id, writer_id)
        live = {t: pair for t, pair in batch.items() if not staged[t].skipped}
        self._copy_all({t: p for t, p in live.items() if engines[t].copies}, engines, staged)
        in_parallel(
            {t: (engines[t], c, staged[t]) for t, (_, c) in live.items() if not engines[t].copies},
            lambda one: one[0].stage_s3(_typed(one[1]), one[2]),
            self._parallel,
        )
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
        counts = _ledger(engines, pending, batch_id, writer_id)
        drops = [d for t in pending for d in engines[t].drops(staged[t])]
        if drops:
            engines[pending[0]].executor.transaction(drops)
        return {t: engines[t].result(staged[t], counts.get(t, ()), refreshed.get(t, 0))
                for t in staged}  # fmt: skip

    def _prepare(
        self,
        batch: Mapping[str, tuple[Engine, Changes]],
        engines: Mapping[str, WarehouseEngine],
        batch_id: int,
        writer_id: str,
    ) -> dict[str, Staged]:
        """Every table's tables made to fit (the tables staged through S3 several at a
        time, as their staging), then the ledger asked once for the whole batch: a table
        it holds was applied already and is skipped. On Redshift's Data API each question
        is a request of its own, hundreds of milliseconds: one a table would cost a
        minute a batch at 200 tables."""
        copied = [t for t in batch if engines[t].copies]

        def prepare(table: str) -> Staged:
            return engines[table].prepare(batch[table][1], batch_id, writer_id, ask_ledger=False)

        staged = {t: prepare(t) for t in copied}
        staged |= in_parallel({t: t for t in batch if t not in copied}, prepare, self._parallel)
        done = _ledger(engines, list(batch), batch_id, writer_id)
        for table, one in staged.items():
            one.skipped = table in done
        return {t: staged[t] for t in batch}  # the order the tables came in

    def _copy_all(
        self,
        batch: Mapping[str, tuple[Engine, Changes]],
        engines: Mapping[str, WarehouseEngine],
        staged: Mapping[str, Staged],
    ) -> None:
        """Step 1 for the tables staged by COPY from the executors: their staging tables
        created in one transaction, then filled by one Spark job (copy_batch.py)."""
        if not batch:
            return
        creates, parts = [], []
        for table, (_, changes) in batch.items():
            create, part = engines[table].copy_part(changes, staged[table])
            creates += create
            parts.append(part)
        first = engines[next(iter(batch))]
        first.executor.transaction(creates)
        copy_tables(first.settings, parts)
        done = time.monotonic()
        for table in batch:
            staged[table].timings["stage_s"] = done - staged[table].started


def _ledger(
    engines: Mapping[str, WarehouseEngine], tables: list[str], batch_id: int, writer_id: str
) -> dict[str, tuple[int, ...]]:
    """(upserts, deletes, stale) of each of `tables` whose ledger holds the batch: one
    query a schema, not one a table."""
    by_schema: dict[str, dict[str, list[str]]] = {}
    for table in tables:
        schema, name = engines[table].ledger_name
        by_schema.setdefault(schema, {}).setdefault(name, []).append(table)
    found: dict[str, tuple[int, ...]] = {}
    for names in by_schema.values():
        ledger = engines[next(iter(names.values()))[0]].ledger_of_batch(writer_id, batch_id)
        for name, counts in ledger.items():
            for table in names.get(name, []):
                found[table] = counts
    return found


def _typed(changes: Changes) -> DataFrame:
    """Changes staged through S3 are typed: a table staged as text takes COPY (`stages_text`)."""
    assert not isinstance(changes, TextChanges), "changes typed as text staged through S3"
    return changes

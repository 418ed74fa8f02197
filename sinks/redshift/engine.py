"""Apply micro-batches to a warehouse table with a staged merge.

Per batch, in steps:

1. **stage**: collapse to the last change per key (Spark; SCD type 2 keeps every change)
   and load it into a staging table from the executors (PostgreSQL: COPY FROM STDIN per
   partition, copy_batch.py, every table of a source batch in one Spark job; Redshift:
   Parquet on S3, then one COPY, s3_staging.py);
2. **merge**: in ONE transaction, keep the changes newer than what the key table holds,
   delete and insert them in the published table, update the key table (tombstones),
   refresh the denormalized tables it feeds, and record (table, writer, batch) with its
   counts in the ledger; expired tombstones stop counting and, at most hourly, leave the
   key table in that same transaction (retention.py);
3. **clean up**: read the counts from the ledger, drop the staging table (and its S3
   objects).

A replayed batch finds its ledger row and changes nothing; a crash before COMMIT leaves
the published table as it was. While the warehouse is unreachable the whole batch is
retried (retry.py). Statements come from the dialect (dialect.py) and run through an
`Executor` (connection.py: a driver connection, or the Redshift Data API).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame

from sinks.base import BatchResult, TextChanges
from sinks.crash import crash_point
from sinks.redshift.connection import ConnectionSettings, DriverExecutor
from sinks.redshift.copy_batch import CopyPart, TextPart, copy_tables
from sinks.redshift.denormalize import Denormalized
from sinks.redshift.dialect import Column, dialect_of
from sinks.redshift.retention import Sweeps, history_sweep
from sinks.redshift.retry import retrying
from sinks.redshift.s3_staging import S3Stage, parquet_column
from sinks.redshift.statements import Executor, Statement, quote
from sinks.redshift.tables import WarehouseTables
from sinks.retention import Expiry
from transforms.names import BOOKKEEPING, COMMIT_TS, OP, POS, SEQ
from transforms.ordering import latest_per_key

__all__ = ["Changes", "Staged", "WarehouseEngine"]

Changes = DataFrame | TextChanges  # a table's changes: typed, or typed as text with others'

_STAGE_COLUMNS = (OP, SEQ, POS)
log = logging.getLogger("stream_cdc")


@dataclass
class Staged:
    """One table's batch between its staging and its commit."""

    stage: str  # the staging table
    payload: list[str]  # business columns, in order
    batch_id: int
    writer_id: str
    started: float = 0.0
    skipped: bool = False  # the ledger has it: applied already
    folder: str | None = None  # its objects on S3, when staged there
    timings: dict[str, float] = field(default_factory=dict)


class WarehouseEngine:
    """One warehouse table; create one per table and reuse it for every batch.

    `settings` is the driver connection (required for COPY FROM STDIN staging, which
    streams from the executors); `executor` runs the driver's statements (default: over
    `settings`); `staging` stages batches on S3 instead. `sinks.factory.make_engine`
    builds all three from a config.
    """

    def __init__(
        self,
        settings: ConnectionSettings | None,
        *,
        schema: str,
        table: str,
        keys: Sequence[str],
        denormalized: Sequence[Denormalized] = (),
        retry_s: float = 300.0,
        scd_type: int = 1,
        dialect: str | None = None,
        executor: Executor | None = None,
        staging: S3Stage | None = None,
        expiry: Expiry | None = None,
    ) -> None:
        dialect = dialect or (settings.dialect if settings else None)
        if dialect is None:
            raise ValueError("a warehouse engine needs a dialect or connection settings")
        if staging is None and (settings is None or dialect != "postgres"):
            raise ValueError(
                "target.staging: COPY FROM STDIN needs a driver connection to PostgreSQL; "
                "Amazon Redshift loads through S3 (staging kind s3)"
            )
        if executor is None:
            if settings is None:
                raise ValueError("a warehouse engine needs an executor or connection settings")
            executor = DriverExecutor(settings)
        self._settings = settings
        self._executor = executor
        self._staging = staging
        self._dialect = dialect_of(dialect)
        self._schema = schema
        self._table = table
        self._keys = list(keys)
        self._denormalized = sorted(denormalized, key=lambda d: d.name)
        self._history = scd_type == 2
        self._tables = WarehouseTables(
            executor,
            self._dialect,
            schema,
            table,
            self._keys,
            history=self._history,
            denormalized=self._denormalized,
        )
        self._retry_s = retry_s
        self._sweeps = Sweeps(expiry or Expiry())
        self.location = f"{executor.location}/{schema}.{table}"

    def recover(self) -> None:
        """Drop staging tables a crashed process left behind (their batch is re-run)."""
        found = self._executor.query(self._dialect.stage_tables(self._schema, self._table))
        drops = [self._dialect.drop_table(self._schema, str(name)) for (name,) in found]
        if drops:
            self._executor.transaction(drops)

    @property
    def executor(self) -> Executor:
        return self._executor

    def apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        """Apply the batch of this table alone; while the warehouse is unreachable, retry
        it for `retry_s`. (A source's batch of several tables goes through
        batch.WarehouseBatch instead: one transaction for all.)

        Retrying is safe at any point: the ledger makes a committed batch a no-op and
        an uncommitted one starts again from a fresh staging table.
        """
        return retrying(
            lambda: self._apply_once(changes, batch_id, writer_id),
            retry_s=self._retry_s,
            what=f"{self._table} batch {batch_id}",
        )

    def _apply_once(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        staged = self.stage(changes, batch_id, writer_id)
        crash_point("warehouse.after_staging")
        refreshed = 0
        if not staged.skipped:
            mark = time.monotonic()
            statements = [*self.locks(), *self.merge_statements(staged)]
            affected = self._executor.transaction(statements)
            refreshed = sum(
                n for s, n in zip(statements, affected, strict=True) if s.tally == "refreshed"
            )
            staged.timings["merge_s"] = time.monotonic() - mark
        crash_point("warehouse.after_commit")
        return self.finish(staged, refreshed)

    def stage(self, changes: DataFrame, batch_id: int, writer_id: str) -> Staged:
        """Step 1: the table's tables exist and the batch is in a fresh staging table
        (nothing staged when the ledger says the batch was applied already)."""
        staged = self.prepare(changes, batch_id, writer_id)
        if staged.skipped:
            return staged
        if not self.copies:
            return self.stage_s3(changes, staged)
        create, part = self.copy_part(changes, staged)
        self._executor.transaction(create)
        copy_tables(self.settings, [part])
        staged.timings["stage_s"] = time.monotonic() - staged.started
        return staged

    def stage_s3(self, changes: DataFrame, staged: Staged) -> Staged:
        """Step 1 of a prepared batch staged through S3 (Redshift's COPY)."""
        staged.folder = self._stage_s3(changes, staged)
        staged.timings["stage_s"] = time.monotonic() - staged.started
        return staged

    @property
    def settings(self) -> ConnectionSettings:
        """The driver connection the executors' COPY streams use."""
        assert self._settings is not None  # a COPY-staged engine has them (__init__)
        return self._settings

    @property
    def copies(self) -> bool:
        """Whether it stages by COPY FROM STDIN from the executors (PostgreSQL), which
        batch.py does for every table of a batch in one Spark job (copy_batch.py)."""
        return self._staging is None

    def prepare(
        self, changes: Changes, batch_id: int, writer_id: str, *, ask_ledger: bool = True
    ) -> Staged:
        """Step 1 up to the staging: the table's tables fit the batch's columns, and the
        ledger says whether the batch was applied already (then `skipped`; without
        `ask_ledger`, the caller asks it for every table of the batch at once)."""
        started = time.monotonic()
        payload = list(_types(changes))
        self.ensure_tables(self._columns(changes, payload))
        stage = f"{self._table}__stage_{batch_id}"
        staged = Staged(stage, payload, batch_id, writer_id, started=started)
        staged.skipped = ask_ledger and self._committed(writer_id, batch_id)
        return staged

    @property
    def ledger_name(self) -> tuple[str, str]:
        """(schema, table name) of the table's rows in its schema's ledger."""
        return self._schema, self._table

    def ledger_of_batch(self, writer_id: str, batch_id: int) -> dict[str, tuple[int, ...]]:
        """(upserts, deletes, stale) by table name of every table of this table's schema
        the batch committed: one query (batch.py asks it once a schema, not once a table)."""
        rows = self._executor.query(
            self._dialect.ledger_of_batch(self._schema, writer_id, batch_id)
        )
        return {str(name): tuple(int(v) for v in counts) for name, *counts in rows}

    @property
    def takes_text(self) -> bool:
        """Whether it stages changes typed as text with other tables' (`TextChanges`):
        by COPY from the executors, one row a key (not SCD type 2's every change)."""
        return self.copies and not self._history

    def copy_part(
        self, changes: Changes, staged: Staged
    ) -> tuple[list[Statement], CopyPart | TextPart]:
        """The statements that create the batch's staging table, and what copy_batch.py
        loads into it: the per-table step 1 of a batch staged in one Spark job."""
        names = [*staged.payload, *_STAGE_COLUMNS, *([COMMIT_TS] if self._history else [])]
        target = f"{quote(self._schema)}.{quote(staged.stage)}"
        if isinstance(changes, TextChanges):
            assert self.takes_text, f"{self._table}: staged as text with its own columns"
            return self._create_stage(changes, staged), TextPart(target, names, changes)
        part = CopyPart(target, names, changes, self._keys, every_change=self._history)
        return self._create_stage(changes, staged), part

    def _create_stage(self, changes: Changes, staged: Staged) -> list[Statement]:
        """The batch's staging table, fresh: dropped if a crashed run left it, created."""
        dialect, columns = self._dialect, self._columns(changes, staged.payload)
        return [
            dialect.drop_table(self._schema, staged.stage),
            dialect.create_stage(self._schema, staged.stage, columns, commit_ts=self._history),
        ]

    @staticmethod
    def _columns(changes: Changes, payload: Sequence[str]) -> list[Column]:
        types = _types(changes)
        return [Column(c, types[c]) for c in payload]

    def locks(self) -> list[Statement]:
        """The LOCKs a merge of this table takes first: its denormalized tables'."""
        return [d.lock(self._dialect, self._schema) for d in self._denormalized]

    def merge_statements(self, staged: Staged) -> list[Statement]:
        """Step 2: the table's part of the batch's transaction (without the locks)."""
        return self._merge(staged.stage, staged.payload, staged.writer_id, staged.batch_id)

    def finish(self, staged: Staged, refreshed: int) -> BatchResult:
        """Step 3, once the transaction committed: the counts, and the staging dropped."""
        if staged.skipped:
            return BatchResult(batch_id=staged.batch_id, skipped=True)
        counts = self._ledger_row(staged.writer_id, staged.batch_id)
        if counts is None:
            raise RuntimeError(
                f"warehouse {self._table}: batch {staged.batch_id} committed but its ledger "
                "row is missing"
            )
        self._executor.transaction(self.drops(staged))
        return self.result(staged, counts, refreshed)

    def drops(self, staged: Staged) -> list[Statement]:
        """What step 3 drops once the transaction committed: the staging table."""
        return [] if staged.skipped else [self._dialect.drop_table(self._schema, staged.stage)]

    def result(self, staged: Staged, counts: tuple[int, ...], refreshed: int) -> BatchResult:
        """Step 3's result from the ledger's (upserts, deletes, stale), its staging dropped
        (`drops`); its objects on S3 deleted."""
        if staged.skipped:
            return BatchResult(batch_id=staged.batch_id, skipped=True)
        upserts, deletes, stale = counts
        if staged.folder is not None:
            self._clean(staged.folder, staged.batch_id)
        staged.timings["total_s"] = time.monotonic() - staged.started
        return BatchResult(
            batch_id=staged.batch_id,
            changes_in=upserts + deletes + stale,
            upserts=upserts,
            deletes=deletes,
            stale=stale,
            refreshed=refreshed,
            timings=staged.timings,
        )

    # -------------------------------------------------------------- 1. stage

    def _stage_s3(self, changes: DataFrame, staged: Staged) -> str:
        """Load the batch into a fresh staging table through S3; the folder it used.

        Type 1 stages the last change per key; type 2 every change (each is a version).
        """
        assert self._staging is not None
        latest = changes if self._history else changes.transform(latest_per_key(self._keys))
        commit_ts = [COMMIT_TS] if self._history else []
        rows = latest.select(
            *[parquet_column(changes, c) for c in staged.payload], *_STAGE_COLUMNS, *commit_ts
        )
        folder = self._staging.write(rows, self._table, staged.writer_id, staged.batch_id)
        load = self._staging.load(self._dialect, self._schema, staged.stage, folder)
        self._executor.transaction([*self._create_stage(changes, staged), *load])
        return folder

    # -------------------------------------------------------------- 2. merge

    def _merge(
        self, stage: str, payload: Sequence[str], writer_id: str, batch_id: int
    ) -> list[Statement]:
        """The table's statements of the batch's transaction: merge, denormalized
        refreshes (their INSERTs tallied as `refreshed`), ledger row, clean-up."""
        dialect, schema = self._dialect, self._schema
        statements: list[Statement] = []
        if self._history:
            statements += dialect.history_merge(schema, self._table, stage, payload, self._keys)
            events = f"{quote(schema)}.{quote(self._table + '__cdc_events')}"
            history = f"{quote(schema)}.{quote(self._table)}"
            statements += history_sweep(history, events, self._keys, quote, self._sweeps.times())
        else:
            statements += dialect.merge(
                schema, self._table, stage, payload, self._keys, times=self._sweeps.times()
            )
            accepted = dialect.accepted(stage)
            for denormalized in self._denormalized:
                statements += denormalized.refresh(schema, self._table, self._keys, accepted)
        statements.append(
            dialect.record_batch(
                schema,
                self._table,
                stage,
                history=self._history,
                writer_id=writer_id,
                batch_id=batch_id,
            )
        )
        if self._history:
            statements += dialect.drop_history_temps(stage)
        else:
            statements.append(dialect.drop_accepted(stage))
        return statements

    # ---------------------------------------------------------- 3. clean up

    def _clean(self, folder: str, batch_id: int) -> None:
        """Delete a committed batch's staged objects; a failure only leaves garbage."""
        assert self._staging is not None
        try:
            removed = self._staging.cleanup(folder)
        except Exception as error:
            log.warning(
                "warehouse %s: staged objects of batch %d not removed (%s)",
                self._table,
                batch_id,
                type(error).__name__,
            )
            return
        log.debug(
            "warehouse %s: %d staged objects of batch %d removed", self._table, removed, batch_id
        )

    # ------------------------------------------------------------- tables

    def ensure_tables(self, columns: Sequence[Column]) -> None:
        """The table's tables made to fit `columns` (tables.py)."""
        self._tables.ensure(columns)

    def _committed(self, writer_id: str, batch_id: int) -> bool:
        return self._ledger_row(writer_id, batch_id) is not None

    def _ledger_row(self, writer_id: str, batch_id: int) -> tuple[int, ...] | None:
        """(upserts, deletes, stale) of the table's batch, None when never committed."""
        return self.ledger_of_batch(writer_id, batch_id).get(self._table)


def _types(changes: Changes) -> dict[str, str]:
    """The Spark type of each of the changes' business columns, in order."""
    if isinstance(changes, TextChanges):
        return dict(changes.columns)
    return {
        f.name: f.dataType.simpleString()
        for f in changes.schema.fields
        if f.name not in BOOKKEEPING
    }

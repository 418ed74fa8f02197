"""Apply one source batch to every table it touches: the target's side of a batch.

A source's micro-batch holds changes of many tables. How they are applied together
depends on what the target can promise:

* lake, Delta and Iceberg tables are independent tables: each table's engine applies its
  changes on its own (each atomic and idempotent), several tables at once
  (`parallel_tables` threads: Spark runs their jobs side by side); the lake's tables that
  hold nothing yet are staged together by one Spark job, then committed each on its own
  (sinks/lake/text_load.py);
* the warehouse applies the changes of every table in ONE database transaction
  (sinks/redshift/batch.py), so a reader never sees half of a source transaction whose
  changes arrived in the same batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pyspark.sql import DataFrame

from sinks.base import BatchResult, Engine, TextChanges
from sinks.lake import LakeEngine
from sinks.lake.text_load import load_text
from sinks.parallel import in_parallel

__all__ = ["EachTable", "Target"]

_TEXT = ""  # the work item of the tables staged together (a table's name is never empty)


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
    """Tables applied one engine each, `parallel` at a time (lake, Delta, Iceberg); the
    lake's new tables all staged by one Spark job (sinks/lake/text_load.py)."""

    def __init__(self, parallel: int = 4) -> None:
        self._parallel = parallel

    def stages_text(self, engine: Engine) -> bool:
        """A new lake table on the local file system or S3 (`takes_text`); every other engine
        writes typed rows of its own."""
        return isinstance(engine, LakeEngine) and engine.takes_text

    def apply(
        self,
        batch: Mapping[str, tuple[Engine, DataFrame | TextChanges]],
        batch_id: int,
        writer_id: str,
    ) -> dict[str, BatchResult]:
        texts = {
            name: (engine, changes)
            for name, (engine, changes) in batch.items()
            if isinstance(engine, LakeEngine) and isinstance(changes, TextChanges)
        }

        def one(name: str) -> dict[str, BatchResult]:
            if name == _TEXT:
                return load_text(texts, batch_id, writer_id, parallel=self._parallel)
            engine, changes = batch[name]
            assert isinstance(changes, DataFrame), "an engine of its own takes typed changes"
            return {name: engine.apply(changes, batch_id, writer_id)}

        work = [name for name in batch if name not in texts] + ([_TEXT] if texts else [])
        done = in_parallel({name: name for name in work}, one, self._parallel)
        return {name: result for results in done.values() for name, result in results.items()}

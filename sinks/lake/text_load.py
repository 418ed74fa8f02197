"""A batch's new lake tables, staged together by ONE Spark job, each committed on its own.

Applied one engine each, every table costs its own Spark jobs (a table's first batch:
a write of its data, a write of its key index), whatever its rows: at 200 tables, most
of a database's first batch (docs/benchmarks.md, *What a table costs*). Here the tables
whose changes one program typed as text (runtime/shared.py, `TextChanges`) and that
hold nothing yet (`LakeEngine.takes_text`) are staged by one Spark job:

1. every table's changes collapsed to the last per key (transforms/ordering.py
   `latest_per_key`, over table and key), their values typed into shared slots
   (transforms/slots.py), sorted by table in each task;
2. the tasks write each table's data file and key file into that table's staging
   folder, as its own batch would (sinks/lake/arrow_write.py), and report each file's
   figures: the job's only result, a few rows a table;
3. each table's batch is then committed as the engine commits its own (manifest,
   publish, catalog: `LakeEngine.commit`), several at once.

A table that holds nothing takes every change kept (no key is held, so none is newer;
sinks/lake/load.py): there is nothing to read, and each table's decision follows from
its figures. Each table's commit is its own, as when applied apart: a crash between two
tables' commits leaves the first committed and the second's staging discarded, and the
replayed batch skips the first (its manifest has the batch) and stages the second again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DataType,
    IntegralType,
    StringType,
    StructField,
    StructType,
    _parse_datatype_string,
)

from sinks.base import BatchResult, TextChanges
from sinks.decide import Decision
from sinks.lake.arrow_write import FIGURES, PART, StagedTable, writer
from sinks.lake.engine import LakeEngine
from sinks.lake.figures import Staged, entries, micros
from sinks.lake.load import staged_figures
from sinks.lake.manifest import Manifest
from sinks.parallel import in_parallel
from transforms.frames import union_all
from transforms.names import OP, POS, REPLICA, SEQ
from transforms.ordering import latest_per_key
from transforms.shared_types import KEY, VALUES, text_changes
from transforms.slots import slot_layout, typed_slots

__all__ = ["load_text"]


@dataclass(frozen=True)
class _Table:
    """One table's part of the load."""

    engine: LakeEngine
    changes: TextChanges
    previous: Manifest
    staging: str  # its staging folder (as the engine names it)
    schema: StructType
    now: datetime


def load_text(
    batch: Mapping[str, tuple[LakeEngine, TextChanges]],
    batch_id: int,
    writer_id: str,
    *,
    parallel: int = 4,
) -> dict[str, BatchResult]:
    """Apply each table's `TextChanges` of `batch` ({table: (its engine, its changes)},
    every engine `takes_text`) as its engine would: the same files, manifest and result."""
    started = time.monotonic()
    results: dict[str, BatchResult] = {}
    tables: dict[str, _Table] = {}
    for name, (engine, changes) in batch.items():
        previous = engine.manifest
        if previous.committed(writer_id, batch_id):
            results[name] = BatchResult(batch_id, skipped=True, rows_in_table=previous.rows)
            continue
        schema = StructType([StructField(c, _spark_type(t), True) for c, t in changes.columns])
        staging = engine.files.staging(previous.version + 1)
        tables[name] = _Table(engine, changes, previous, staging, schema, engine.now())
    if not tables:
        return results
    figures = _stage(tables)
    staged_s = time.monotonic() - started

    def commit(name: str) -> BatchResult:
        table = tables[name]
        timings = {"decide_s": 0.0, "rewrite_s": staged_s}
        files = [r for r in figures if r["table"] == name]
        paths, decision = _figures(table, files)
        data: dict[str, list[str]] = {}
        keys: dict[str, list[str]] = {}
        for r in files:
            (data if r["kind"] == "data" else keys).setdefault(r["partition"], []).append(r["name"])
        staged = (table.staging, set(paths), entries(paths, data, keys))
        return table.engine.commit(table.previous, staged, table.schema,
                                   writer=(writer_id, batch_id), decision=decision,
                                   timings=timings, started=started)  # fmt: skip

    return results | in_parallel({name: name for name in tables}, commit, parallel)


@cache
def _spark_type(name: str) -> DataType:
    """A type of the config's vocabulary (`int`, `decimal(10,2)`) as Spark's: parsed by
    the JVM once a type, not once a column (hundreds of tables' columns: seconds)."""
    return _parse_datatype_string(name)


def _stage(tables: Mapping[str, _Table]) -> list[Row]:
    """Every table's files staged by one Spark job; the figures of each file written."""
    layout = slot_layout({name: t.changes.columns for name, t in tables.items()})
    specs = {name: _spec(t, layout.of_table[name]) for name, t in tables.items()}
    slots = [name for name, _ in layout.slots]
    frames: dict[int, tuple[DataFrame, list[str]]] = {}
    for name, t in tables.items():  # a batch's tables typed ahead of its routing, and the rest
        frames.setdefault(id(t.changes.records), (t.changes.records, []))[1].append(name)
    parts = _part_texts(tables, layout.of_table)
    rows = union_all(
        [
            text_changes(records)
            .where(F.col(REPLICA).isin(*names))
            .transform(latest_per_key([REPLICA, KEY]))
            .transform(typed_slots(layout, REPLICA, VALUES))
            .select(REPLICA, OP, SEQ, POS, *slots, *parts)
            for records, names in frames.values()
        ]
    )
    cores = rows.sparkSession.sparkContext.defaultParallelism
    write = writer(specs, (REPLICA, OP, SEQ, POS))
    return rows.coalesce(cores).sortWithinPartitions(REPLICA).mapInArrow(write, FIGURES).collect()


def _part_texts(tables: Mapping[str, _Table], slots: Mapping[str, Sequence[str]]) -> list[Column]:
    """The text of each row's partition values (`PART` columns), as Spark's partitioned
    write names its folders: the value cast to text, taken from the slot of its table's
    partition column (a CASE over the slots, not the tables)."""
    texts = []
    for i in range(max(len(t.engine.parts) for t in tables.values())):
        by_slot: dict[str, list[str]] = {}
        for name, t in tables.items():
            if i < len(t.engine.parts):
                column = [c for c, _ in t.changes.columns].index(t.engine.parts[i])
                by_slot.setdefault(slots[name][column], []).append(name)
        text: Column | None = None
        for slot, names in by_slot.items():
            value, mine = F.col(slot).cast("string"), F.col(REPLICA).isin(*names)
            text = F.when(mine, value) if text is None else text.when(mine, value)
        assert text is not None, "a partition column of some table"
        texts.append(text.alias(PART.format(i)))
    return texts


def _spec(table: _Table, slots: Sequence[str]) -> StagedTable:
    """What the tasks need to write `table`'s files."""
    folder = table.engine.files.storage.arrow_files(table.staging)
    assert folder is not None, "tables staged together are on the local file system or S3"
    columns = tuple(c for c, _ in table.changes.columns)
    keys = table.engine.keys
    first = table.schema[keys[0]].dataType
    return StagedTable(
        folder=folder,
        columns=columns,
        slots=tuple(slots),
        keys=keys,
        parts=table.engine.parts,
        ranged=isinstance(first, IntegralType | StringType),
        max_rows=table.engine.files.max_records,
        deleted_at=micros(table.now),
    )


def _figures(table: _Table, files: list[Row]) -> tuple[dict[str, Staged], Decision]:
    """The table's staged figures (by partition path) and its decision, from the figures
    of the files its tasks wrote; read back from the staged key index when the tasks could
    not tell the first key's range."""
    keyed = [r for r in files if r["kind"] == "keys"]
    rows = sum(int(r["rows"]) for r in keyed)
    tombstones = sum(int(r["tombstones"]) for r in keyed)
    decision = Decision(rows + tombstones, rows, tombstones, net_rows=rows)
    engine = table.engine
    if any(r["lo"] is None for r in keyed):
        figures = staged_figures(
            engine.files, table.staging, table.schema, keys=engine.keys, parts=engine.parts
        )
        return {p: f for p, f in figures.items() if f.rows or f.tombstones}, decision
    number = isinstance(table.schema[engine.keys[0]].dataType, IntegralType)
    order = Decimal if number else str
    by_path: dict[str, list[Row]] = {}
    for r in keyed:
        by_path.setdefault(r["partition"], []).append(r)
    staged = {}
    for path, held in by_path.items():
        dead = sum(int(r["tombstones"]) for r in held)
        staged[path] = Staged(
            sum(int(r["rows"]) for r in held),
            dead,
            min((r["lo"] for r in held), key=order),
            max((r["hi"] for r in held), key=order),
            micros(table.now) if dead else None,
        )
    return staged, decision

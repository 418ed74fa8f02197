"""Runs in the tasks: the staged files of many new lake tables, written by Arrow.

A Spark write has one schema, and each table its own: written by Spark, every table
costs a write (a Spark job) of its own. Here the tasks of ONE Spark job write every
table's files: their rows come typed in shared slots (transforms/slots.py), sorted by
table in each task; each table's run of rows is written, in its own columns and types,
as one data file (its live rows) and one key file (its keys, `_seq`, `_pos`, `_deleted`,
`_deleted_at`, as sinks/decide.py `key_rows` has them) per `max_rows` rows and partition,
into the table's staging folder. The types are those Spark's Arrow conversion gives its
own (Parquet reads them back as the same Spark types). A partitioned table's rows go to
the folders Spark's partitioned write would name: each partition value's text is Spark's
cast of it to text, computed in the plan, escaped here as Spark escapes it
(sinks/lake/files.py `partition_path`); the partition columns are in the folder's name,
not in the files. A row goes to its own values' partition: the table holds nothing, so a
delete's tombstone stays where its values put it (sinks/decide.py `goes_to`).

Each file is reported as a row of `FIGURES`: what its manifest entry needs (live rows,
tombstones, the first key's range as Spark's text of it), so that the driver lists and
reads nothing. The range is computed here for an integral or text first key; for other
types it is left NULL and the driver reads the staged key index back.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sinks.lake.files import join, partition_path
from sinks.storage import ArrowFiles
from transforms.names import DELETED, DELETED_AT, POS, SEQ

__all__ = ["FIGURES", "PART", "StagedTable", "writer"]

FIGURES = (
    "table string, partition string, kind string, name string, rows long, tombstones long, "
    "lo string, hi string"
)
PART = "__part{}"  # the text of a row's i-th partition value (Spark's cast to text)


@dataclass(frozen=True)
class StagedTable:
    """What the tasks need to write one table's staged files."""

    folder: ArrowFiles  # the staging folder: `data/` and `keys/` go under it
    columns: tuple[str, ...]  # the data file's columns, in order
    slots: tuple[str, ...]  # the slot each column is read from
    keys: tuple[str, ...]  # the key columns, in the config's order
    parts: tuple[str, ...]  # the partition columns; their values' text in `PART` columns
    ranged: bool  # the first key's range is computed here (an integral or text type)
    max_rows: int  # rows in a file at most
    deleted_at: int  # the time its tombstones are stamped with: microseconds since 1970, UTC


def writer(
    tables: Mapping[str, StagedTable], names: tuple[str, str, str, str]
) -> Callable[[Iterable[Any]], Iterable[Any]]:
    """A `mapInArrow` function writing the staged files of `tables` from rows that name
    their table, operation, sequence and position in the columns `names`, sorted by table
    in each task."""

    def write(batches: Iterable[Any]) -> Iterator[Any]:
        from pyspark import TaskContext

        task = TaskContext.get()
        prefix = f"part-{task.partitionId() if task else 0:05d}-{uuid.uuid4().hex}"
        numbers = itertools.count()
        systems: dict[str, Any] = {}  # each table's file system, built once a task

        def flush(table: str, run: list[Any]) -> Any:
            stem = f"{prefix}-{next(numbers):05d}"
            spec = tables[table]
            files = systems.get(table) or systems.setdefault(table, spec.folder.filesystem())
            return _flush(spec, table, run, files=files, names=names, stem=stem)

        run: list[Any] = []
        table, held = "", 0
        for batch in batches:
            for name, rows in _runs(batch, batch.column(names[0])):
                if run and name != table:
                    yield flush(table, run)
                    run, held = [], 0
                table, held = name, held + rows.num_rows
                run.append(rows)
                if held >= tables[table].max_rows:
                    yield flush(table, run)
                    run, held = [], 0
        if run:
            yield flush(table, run)

    return write


def _runs(rows: Any, labels: Any) -> Iterator[tuple[Any, Any]]:
    """The runs of `rows` (a batch or table) whose `labels` (an array, one a row) are
    equal, in order; found by Arrow, not row by row in Python."""
    import pyarrow.compute as pc

    encoded = pc.run_end_encode(labels)
    start = 0
    for end, label in zip(encoded.run_ends.to_pylist(), encoded.values.to_pylist(), strict=True):
        yield label, rows.slice(start, end - start)
        start = end


def _flush(
    spec: StagedTable,
    table: str,
    run: list[Any],
    *,
    files: Any,
    names: tuple[str, str, str, str],
    stem: str,
) -> Any:
    """One table's rows written as a data file and a key file in each partition they go
    to; the figures of each file."""
    import pyarrow as pa

    rows = pa.Table.from_batches(run)
    name = f"{stem}.parquet"
    reported: list[dict[str, Any]] = []
    for path, part in _partitions(spec, rows):
        reported += [
            {"table": table, "partition": path, **f}
            for f in _write(spec, part, (files, path, name), names)
        ]
    return pa.RecordBatch.from_pylist(reported, schema=_figures_schema())


def _partitions(spec: StagedTable, rows: Any) -> Iterator[tuple[str, Any]]:
    """The rows of each partition (by its path), from their partition values' text (Spark's
    cast to text, as its writer names partition folders). The rows are grouped by Arrow
    (each combination of values a number, the rows sorted by it); a path is made once a
    combination, and combinations with one path (NULL and empty text) are one partition."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not spec.parts:
        yield "", rows
        return
    texts = [PART.format(i) for i in range(len(spec.parts))]
    code = pa.repeat(pa.scalar(0, pa.int64()), rows.num_rows)
    for text in texts:
        values = rows.column(text).combine_chunks()
        encoded = pc.dictionary_encode(values, null_encoding="encode")
        combined = pc.add(pc.multiply(code, len(encoded.dictionary)), encoded.indices)
        code = pc.dictionary_encode(combined).indices.cast(pa.int64())  # at most a row each
    order = pc.sort_indices(code)
    by_path: dict[str, list[Any]] = {}
    for _, part in _runs(rows.take(order), code.take(order)):
        values = tuple(part.column(text)[0].as_py() for text in texts)
        by_path.setdefault(partition_path(spec.parts, values), []).append(part)
    for path, parts in by_path.items():
        yield path, parts[0] if len(parts) == 1 else pa.concat_tables(parts)


def _write(
    spec: StagedTable, rows: Any, where: tuple[Any, str, str], names: tuple[str, str, str, str]
) -> list[dict[str, Any]]:
    """One partition's data file (its live rows) and key file, as Spark's partitioned
    writes lay them out (the partition columns in the folder's name, not in the file);
    `where`: the file system, the partition's path and the files' name."""
    import pyarrow as pa
    import pyarrow.compute as pc

    files, path, name = where
    _, op, seq, pos = names
    deleted = pc.equal(rows.column(op), "D")
    slot = dict(zip(spec.columns, spec.slots, strict=True))
    figures: list[dict[str, Any]] = []
    live = rows.filter(pc.invert(deleted))
    if live.num_rows:
        stored = [c for c in spec.columns if c not in spec.parts]
        data = pa.table([live.column(slot[c]) for c in stored], names=stored)
        _put(files, data, join(f"{spec.folder.path}/data", path), name)
        figures.append(_figures("data", name))
    stamp = pa.scalar(spec.deleted_at, type=pa.timestamp("us", tz="UTC"))
    keys = [k for k in spec.keys if k not in spec.parts]
    index = pa.table(
        [rows.column(slot[k]) for k in keys]
        + [
            rows.column(seq),
            rows.column(pos),
            deleted,
            pc.if_else(deleted, stamp, pa.scalar(None, type=stamp.type)),
        ],
        names=[*keys, SEQ, POS, DELETED, DELETED_AT],
    )
    _put(files, index, join(f"{spec.folder.path}/keys", path), name)
    dead = pc.sum(deleted.cast(pa.int64())).as_py() or 0
    low = high = None
    if spec.ranged:
        bounds = pc.min_max(rows.column(slot[spec.keys[0]]))
        low, high = (_text(bounds[end].as_py()) for end in ("min", "max"))
    figures.append(_figures("keys", name, rows.num_rows - dead, dead, (low, high)))
    return figures


def _put(files: Any, table: Any, folder: str, name: str) -> None:
    """`table` written as the Parquet file `folder/name` (the folder made first on a local
    file system; S3 has none)."""
    import pyarrow.parquet as pq
    from pyarrow import fs

    if isinstance(files, fs.LocalFileSystem):
        files.create_dir(folder, recursive=True)
    pq.write_table(table, f"{folder}/{name}", filesystem=files)


def _figures(
    kind: str, name: str, rows: int = 0, tombstones: int = 0, span: tuple[Any, Any] = (None, None)
) -> dict[str, Any]:
    return {"kind": kind, "name": name, "rows": rows, "tombstones": tombstones,
            "lo": span[0], "hi": span[1]}  # fmt: skip


def _figures_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("table", pa.string()),
            ("partition", pa.string()),
            ("kind", pa.string()),
            ("name", pa.string()),
            ("rows", pa.int64()),
            ("tombstones", pa.int64()),
            ("lo", pa.string()),
            ("hi", pa.string()),
        ]
    )


def _text(value: Any) -> str | None:
    """A key's value as Spark's cast to text writes it (an integer, or text)."""
    return None if value is None else str(value)

"""A table's DMS Parquet files of one batch, read so that every file's values arrive in
the table's types, whichever side of a widening each file was written on.

Spark 3.5's Parquet reader reads a column as the type it is asked for only when the file
stores that type (or, for a decimal, one it can widen on the fly): asked for `bigint`, its
vectorized reader fails on a file that stores 32-bit integers, asked for `double` on one
that stores 32-bit floats. After the source widened a column (followed by discovery,
sources/parquet_schemas.py), a batch can hold files of both sides. So the footer of
every file is read first (`parquet_footer`: pyarrow for a local file, Spark's schema
converter on the driver for any other; no Spark job, no row read), and the files are
grouped by how they store the table's columns:

* files that store every column in the table's type (the usual case: one group, the one
  scan of before) are read with the table's types;
* files that store some columns in a type that widens to the table's
  (`transforms.types.widens`: a narrower integer, float for double, a decimal with fewer
  digits) are read with the types they store and cast to the table's, which keeps every
  value; one scan per group of files that store the same;
* files that store some column in a type that does not widen to the table's (narrower,
  or another type: an `int` that became text) are read in the types they store and never
  cast: their rows come with `_error` naming the file, the column and both types, and
  with `_raw` holding them as stored, so the batch quarantines them (losing nothing,
  truncating nothing) and goes on (discovery stops a table whose newest file narrows or
  changes a type, docs/sources.md; a stopped table's records are all quarantined).

The scans are unioned, each with its own `_file`, `_block`, `_raw` and `_error` (NULL
where the file fits): still one Spark job for whatever reads the result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from sources.discovery import UnsupportedColumnError
from sources.files import NotParquetError, parquet_footer, read_parquet_files
from sources.parquet_schemas import arrow_column
from transforms.frames import text_frame, union_by_name
from transforms.names import BLOCK, ERROR, FILE, RAW
from transforms.types import quote, spark_type, widens

__all__ = ["FileGroup", "group_files", "read_in_table_types", "stored_types"]

_FOOTERS_AT_ONCE = 8  # footers read side by side (remote ones wait on the network)

log = logging.getLogger("stream_cdc")


@dataclass(frozen=True)
class FileGroup:
    """Files read in one scan: with the table's types, but `stored` (column, type) as
    the files store them, then cast to the table's; or, when `unfit` says why some
    stored type does not widen to the table's, kept as stored for the quarantine."""

    paths: tuple[str, ...]
    stored: tuple[tuple[str, str], ...] = ()
    unfit: str | None = None


def stored_types(footer: pa.Schema) -> dict[str, str]:
    """The Spark type each column of a file is read as, from its footer (the types of
    sources/parquet_schemas.py); a column no Spark type fits is left out."""
    types = {}
    for field in footer:
        try:
            types[field.name] = spark_type(arrow_column(field.name, field.type))
        except UnsupportedColumnError:
            continue
    return types


def group_files(
    columns: Sequence[tuple[str, str]], footers: Mapping[str, pa.Schema]
) -> list[FileGroup]:
    """The scans that read the files of `footers` (path -> footer) in the table's types
    `columns` (name, Spark type): the files stored in the table's types first, then one
    group per set of other stored types, in the order of their first file."""
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {(): []}
    for path, footer in footers.items():
        stored = stored_types(footer)
        differ = tuple((n, stored[n]) for n, t in columns if stored.get(n, t) != t)
        groups.setdefault(differ, []).append(path)
    return [
        FileGroup(tuple(paths), stored, _unfit(stored, columns))
        for stored, paths in groups.items()
        if paths
    ]


def _unfit(stored: Sequence[tuple[str, str]], columns: Sequence[tuple[str, str]]) -> str | None:
    """Why files that store `stored` cannot be read in the table's types, or None."""
    table = dict(columns)
    refused = [
        f"column {name} is stored as {kind} where the table has {table[name]}"
        for name, kind in stored
        if not widens(kind, table[name])
    ]
    if not refused:
        return None
    return (
        "; ".join(refused)
        + " (not a widening, never cast: make the table's type fit, then reprocess the file,"
        " docs/operations.md, Reprocessing)"
    )


def read_in_table_types(
    spark: SparkSession,
    paths: Sequence[str],
    columns: Sequence[tuple[str, str]],
    footer: Callable[[str], pa.Schema] = parquet_footer,
) -> DataFrame:
    """The rows of the Parquet files `paths` (at least one), every column in its type
    of `columns` (name, Spark type), with `_file` and `_block`; `footer` reads a file's
    footer."""
    if not paths:
        raise ValueError("no Parquet file to read")
    with ThreadPoolExecutor(max_workers=max(1, min(_FOOTERS_AT_ONCE, len(paths)))) as pool:
        read = dict(zip(paths, pool.map(lambda p: _footer_or_why(footer, p), paths), strict=True))
    footers = {path: f for path, f in read.items() if isinstance(f, pa.Schema)}
    torn = {path: why for path, why in read.items() if isinstance(why, str)}
    groups = group_files(columns, footers)
    unfit = [g for g in groups if g.unfit is not None]
    if unfit:
        log.warning(
            "%d Parquet file(s) store a column in a type that does not widen to the table's;"
            " their records are quarantined: %s",
            sum(len(g.paths) for g in unfit),
            "; ".join(str(g.unfit) for g in unfit),
        )
    frames = [_scan(spark, group, columns) for group in groups]
    if torn:
        log.warning("%d file(s) are not readable Parquet; quarantined: %s", len(torn),
                    "; ".join(torn))  # fmt: skip
        frames.append(_not_parquet(spark, torn, columns))
    return union_by_name(frames)


def _footer_or_why(footer: Callable[[str], pa.Schema], path: str) -> pa.Schema | str:
    """The file's footer, or why it is not a Parquet footer (sources/files.py)."""
    try:
        return footer(path)
    except NotParquetError as exc:
        return str(exc)


def _not_parquet(
    spark: SparkSession, torn: Mapping[str, str], columns: Sequence[tuple[str, str]]
) -> DataFrame:
    """A row for each file that is not readable Parquet (`torn`: path -> why), for the
    quarantine: the table's columns NULL, the reason naming the file. Its rows cannot be
    read, so none is applied; replaced by a good file, it is reprocessed as one."""
    reasons = text_frame(
        spark,
        [
            (path, f"file {path}: not a readable Parquet file ({why}); not read: replace "
                   "it, then reprocess it (docs/operations.md, Reprocessing)")
            for path, why in torn.items()
        ],
        [FILE, ERROR],
    )  # fmt: skip
    return reasons.select(
        *[F.lit(None).cast(kind).alias(name) for name, kind in columns],
        FILE,
        F.lit(0).cast("bigint").alias(BLOCK),
        F.lit(None).cast("string").alias(RAW),
        ERROR,
    )


def _scan(spark: SparkSession, group: FileGroup, columns: Sequence[tuple[str, str]]) -> DataFrame:
    """One group's files in one scan, in the table's types (cast where they widen; an
    unfit group's columns NULL, its rows as stored in `_raw` and its reason in `_error`)."""
    stored = dict(group.stored)
    ddl = ", ".join(f"{quote(name)} {stored.get(name, kind)}" for name, kind in columns)
    rows = read_parquet_files(spark, list(group.paths), ddl)
    raw, error = F.lit(None).cast("string"), F.lit(None).cast("string")
    if group.unfit is not None:
        raw = F.to_json(F.struct(*[F.col(quote(name)) for name, _ in columns]))
        error = F.concat(F.lit("file "), F.col(FILE), F.lit(f": {group.unfit}"))
    typed = [_in_table_type(name, kind, stored.get(name)) for name, kind in columns]
    return rows.select(*typed, FILE, BLOCK, raw.alias(RAW), error.alias(ERROR))


def _in_table_type(name: str, kind: str, stored: str | None) -> Column:
    """A column as the table types it: as read, cast from a type that widens to it, or
    NULL when the file stores a type that does not (its row is in `_raw`)."""
    if stored is None:
        return F.col(quote(name))
    if widens(stored, kind):
        return F.col(quote(name)).cast(kind).alias(name)
    return F.lit(None).cast(kind).alias(name)

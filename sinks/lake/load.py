"""A batch into a lake table that holds nothing: staged first, counted from what it staged.

Into a table that holds nothing, every change the decision keeps is accepted (no key is
held, so none is newer) and no partition's old files are read: what the batch does to
each partition is exactly what its staged key index holds. So the batch is not counted
by a Spark job before it is written (`figures.count_by_partition`, the steady state's
way); its figures (live rows, tombstones, range of the first key) are read from the
staged key files' Parquet footers, which hold each file's row count and each column's
minimum, maximum and NULL count: metadata, no Spark job. A tombstone is the key row whose
`_deleted_at` is set (the batch's time, the same for all), so a file's tombstones are its
rows less that column's NULLs. When a footer cannot tell (a first key neither an integer
nor text, a statistic missing), or the batch staged more key files than the driver reads
quickly (`FOOTER_FILES`: each footer is about 20 calls into the JVM, and a large load
stages one file a partition), the staged key index is read back with Spark instead
(`figures.read_back`, one job). The batch's decision follows from the figures: every
change kept was accepted, a live row an upsert, a tombstone a delete.

This is every table's first batch: a full load, and each table of a database's first
run (bench/tables.py, bench/full_load.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import DataType, IntegralType, StringType, StructType

from sinks.decide import Decision, key_schema
from sinks.lake.figures import Staged, micros, read_back
from sinks.lake.files import TableFiles, join, parquet_names
from sinks.lake.rewrite import data_rows, key_index_rows
from transforms.names import DELETED_AT

__all__ = ["FOOTER_FILES", "footer_figures", "stage_new", "staged_figures"]

# Staged key files read by their footers; more are read back by one Spark job, which
# reads hundreds of footers in less time than the driver's calls into the JVM would.
FOOTER_FILES = 64


def stage_new(
    files: TableFiles,
    accepted: DataFrame,
    schema: StructType,
    *,
    keys: Sequence[str],
    parts: Sequence[str],
    at: tuple[str, datetime],
) -> tuple[Decision, dict[str, Staged], dict[str, list[str]]]:
    """Write the batch's data and key index to the staging folder `at[0]` (tombstones
    stamped `at[1]`); the decision, the staged partitions' figures (by path), and the
    staged key folder's listing (file names by partition path) for the manifest."""
    staging, now = at
    # No key is held: nothing is taken away from any partition.
    files.write(data_rows(accepted, schema), f"{staging}/data", None)
    files.write(key_index_rows(accepted, keys, parts, at=(now, None)), f"{staging}/keys", None)
    spark = accepted.sparkSession
    listed = files.storage.list_tree(f"{staging}/keys")
    staged = {
        path: [f"{join(f'{staging}/keys', path)}/{name}" for name in parquet_names(names)]
        for path, names in listed.items()
    }
    figures = None
    if sum(len(names) for names in staged.values()) <= FOOTER_FILES:
        # the key files' columns: the keys, _seq, _pos, _deleted, _deleted_at
        columns = (keys[0], 0, len(keys) + 3)
        first = schema[keys[0]].dataType
        figures = footer_figures(spark, staged, columns, first, written=now)
    if figures is None:
        figures = staged_figures(files, staging, schema, keys=keys, parts=parts)
    figures = {path: f for path, f in figures.items() if f.rows or f.tombstones}
    upserts = sum(f.rows for f in figures.values())
    deletes = sum(f.tombstones for f in figures.values())
    return Decision(upserts + deletes, upserts, deletes, net_rows=upserts), figures, listed


def staged_figures(
    files: TableFiles,
    staging: str,
    schema: StructType,
    *,
    keys: Sequence[str],
    parts: Sequence[str],
) -> dict[str, Staged]:
    """The figures (by partition path) of the key index staged under `staging`, read back
    with Spark (one job): after any batch whose figures cannot be told otherwise."""
    index = files.read_folder(f"{staging}/keys", key_schema(schema, keys, parts))
    by_values = read_back(index, keys, parts)
    return {files.partition_path(list(v)) if parts else "": f for v, f in by_values.items()}


def footer_figures(
    spark: SparkSession,
    staged: dict[str, list[str]],
    columns: tuple[str, int, int],
    key_type: DataType,
    *,
    written: datetime,
) -> dict[str, Staged] | None:
    """Each partition's figures (by path) from its key files' footers (`staged`: the
    files' paths by partition path; `columns`: the first key's name and place in the
    file, and `_deleted_at`'s place; tombstones stamped `written`); None when a footer
    cannot tell them."""
    if not isinstance(key_type, IntegralType | StringType):
        return None
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    read = _Footers(jvm, spark.sparkContext._jsc.hadoopConfiguration(), columns)
    figures: dict[str, Staged] = {}
    for path, names in staged.items():
        found = [read(name) for name in names]
        if any(f is None for f in found):
            return None
        counted = [f for f in found if f is not None and f.rows + f.tombstones]
        tombstones = sum(f.tombstones for f in counted)
        figures[path] = Staged(
            sum(f.rows for f in counted),
            tombstones,
            _text(min((f.low for f in counted), default=None)),
            _text(max((f.high for f in counted), default=None)),
            micros(written) if tombstones else None,
        )
    return figures


@dataclass(frozen=True)
class _File:
    rows: int  # live
    tombstones: int
    low: Any  # the first key's least value (an int, or text)
    high: Any


class _Footers:
    """Reads key files' footers through the JVM (so from any file system Spark reads),
    in as few calls as it can: each call into the JVM costs a round trip."""

    def __init__(self, jvm: Any, conf: Any, columns: tuple[str, int, int]) -> None:
        self._path = jvm.org.apache.hadoop.fs.Path
        self._reader = jvm.org.apache.parquet.hadoop.ParquetFileReader
        self._all = jvm.org.apache.parquet.format.converter.ParquetMetadataConverter.NO_FILTER
        self._conf = conf
        self._key, self._key_at, self._deleted_at = columns

    def __call__(self, name: str) -> _File | None:
        """One key file's figures; None when a statistic they need is missing."""
        blocks = self._reader.readFooter(self._conf, self._path(name), self._all).getBlocks()
        rows, tombstones, low, high = 0, 0, None, None
        for b in range(blocks.size()):
            block = blocks.get(b)
            count = int(block.getRowCount())
            if count == 0:
                continue
            chunks = block.getColumns()
            first, deleted_at = chunks.get(self._key_at), chunks.get(self._deleted_at)
            if (str(first.getPath().toDotString()), str(deleted_at.getPath().toDotString())) != (
                self._key,
                DELETED_AT,
            ):
                return None
            key, stamps = first.getStatistics(), deleted_at.getStatistics()
            if stamps.isEmpty() or not key.hasNonNullValue():
                return None
            dead = count - int(stamps.getNumNulls())
            lo, hi = _value(key.genericGetMin()), _value(key.genericGetMax())
            low = lo if low is None else min(low, lo)
            high = hi if high is None else max(high, hi)
            rows, tombstones = rows + count - dead, tombstones + dead
        return _File(rows, tombstones, low, high)


def _value(stat: Any) -> int | str:
    """A statistic as Python compares the key's type: an integer, or text (Parquet's
    `Binary`, compared by its UTF-8 bytes as Spark compares strings)."""
    if isinstance(stat, int):
        return stat
    return str(stat.toStringUsingUTF8())


def _text(value: int | str | None) -> str | None:
    return None if value is None else str(value)

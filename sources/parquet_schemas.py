"""Tables described by their DMS Parquet files: a Parquet file's footer holds the names
and types of its columns, so a table DMS writes as Parquet (`dataFormat=parquet`) needs
neither a catalog nor declared columns. Parquet has no primary key: the table's entry
names it (`tables[].keys`).

`ParquetSchemas` is a `SourceCatalog` that knows what the batches showed it: the job
offers it the newest file of every table in a batch (runtime/batch.py) before it resolves
the batch's tables, so a table is discovered at its first file and a column added at the
source is followed from the first file that has it. DMS's own columns are not the
table's: `Op` (CDC files) and the commit-time column of `TimestampColumnName`
(`source.timestamp_column`).

Reading a description costs one footer, never row data nor a Spark job: a local file's
is read with pyarrow (a few kilobytes); a file elsewhere (`s3://`, `s3a://`) is read on
the driver through Hadoop's file system and typed by Spark's converter of Parquet schemas
(sources/files.py `spark_footer`): one per table per batch that brings it files.

Parquet (Arrow) types map to the database types of transforms/types.py, so a table
described this way is typed and decoded exactly as one described by `information_schema`:

| Parquet / Arrow type | database type | Spark type |
|---|---|---|
| boolean | boolean | boolean |
| int8, int16, int32, int64 | tinyint, smallint, int, bigint | the same |
| uint8, uint16, uint32, uint64 | the same, unsigned | smallint, int, bigint, decimal(20,0) |
| float (float32), double (float64) | float, double | float, double |
| decimal(p,s) | decimal(p,s) | decimal(p,s), every digit |
| date (date32, date64) | date | date |
| timestamp (s, ms, us; INT96), with or without a time zone | datetime | timestamp |
| string (UTF8), large string | varchar | string |
| binary, large binary | blob | string, as written |
| anything else: time, nanosecond timestamps, decimal(p>38), nested | none (below) | |

Spark's Parquet reader cannot read the types of the last row, so such a table is refused
(not replicated, or stopped if it was), naming the column and its type. A footer that
cannot be read fails the batch, as reading its rows would: a restart reads it again.
Every file of a batch is read in the table's types of that batch, an older file of a
followed widening in the types it stores, then cast (sources/parquet_read.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pyarrow as pa

from sources.discovery import DiscoveredTable, SeenTables, UnsupportedColumnError
from sources.files import NotParquetError
from transforms.types import DatabaseColumn

__all__ = ["DMS_OP", "ParquetSchemas", "arrow_column", "parquet_table"]

DMS_OP = "Op"  # DMS's operation column of CDC files (I, U, D)
_INTEGERS = {8: "tinyint", 16: "smallint", 32: "int", 64: "bigint"}
_TIME_DIGITS = {"s": 0, "ms": 3, "us": 6}


def arrow_column(name: str, kind: pa.DataType) -> DatabaseColumn:
    """A Parquet column (as Arrow types it) in the catalog vocabulary of transforms.types.

    Raises UnsupportedColumnError naming the column and its type.
    """
    if pa.types.is_boolean(kind):
        return DatabaseColumn(name, "boolean", "boolean")
    if pa.types.is_integer(kind):
        base = _INTEGERS[kind.bit_width]
        full = base if pa.types.is_signed_integer(kind) else f"{base} unsigned"
        return DatabaseColumn(name, base, full)
    if pa.types.is_float32(kind):
        return DatabaseColumn(name, "float", "float")
    if pa.types.is_float64(kind):
        return DatabaseColumn(name, "double", "double")
    if pa.types.is_decimal(kind) and kind.precision <= 38:
        full = f"decimal({kind.precision},{kind.scale})"
        return DatabaseColumn(name, "decimal", full, kind.precision, kind.scale)
    if pa.types.is_date(kind):
        return DatabaseColumn(name, "date", "date")
    if pa.types.is_timestamp(kind) and kind.unit in _TIME_DIGITS:
        digits = _TIME_DIGITS[kind.unit]
        return DatabaseColumn(name, "datetime", f"datetime({digits})", digits)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return DatabaseColumn(name, "varchar", "varchar")
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return DatabaseColumn(name, "blob", "blob")
    raise UnsupportedColumnError(
        f"column {name}: Parquet type {kind}, which Spark's Parquet reader cannot read"
    )


def parquet_table(
    schema: str, table: str, footer: pa.Schema, dms_columns: Iterable[str] = (DMS_OP,)
) -> DiscoveredTable:
    """The table a DMS Parquet file's footer describes, without DMS's own columns; no
    keys (Parquet has none)."""
    skipped = set(dms_columns)
    columns = tuple(arrow_column(f.name, f.type) for f in footer if f.name not in skipped)
    return DiscoveredTable(schema, table, columns, ())


class ParquetSchemas(SeenTables):
    """A `SourceCatalog` of the tables whose Parquet files the batches have shown.

    `read_footer` gives a file's schema (sources/files.py `parquet_footer`);
    `timestamp_column` is DMS's `TimestampColumnName`, not a column of the tables.
    """

    def __init__(
        self, read_footer: Callable[[str], pa.Schema], timestamp_column: str | None = None
    ) -> None:
        super().__init__()
        self._read = read_footer
        self._dms_columns = (DMS_OP, *([timestamp_column] if timestamp_column else []))
        self._files: dict[tuple[str, str], str] = {}  # the file each description is of

    def offer(self, schema: str, table: str, path: str) -> None:
        """The table's newest file of a batch (full load first, then DMS's time-named CDC
        files): its footer describes the table. One file is read once."""
        if self._files.get((schema, table)) == path:
            return
        try:
            footer = self._read(path)
        except NotParquetError as exc:
            if (schema, table) in self._tables:  # its records quarantined when read
                return  # (sources/parquet_read.py); the description stays
            raise NotParquetError(
                f"file {path}, the newest of table {schema}.{table}, would describe it and "
                f"is not readable Parquet ({exc}): replace it or move it out of the landing "
                "folder, then start the job again"
            ) from None
        described = self._learn(
            schema, table, lambda: parquet_table(schema, table, footer, self._dms_columns)
        )
        if described:
            self._files[(schema, table)] = path

"""The one-program floor of a batch: every table decoded, typed and written (staged into the
warehouse, or as Parquet files) by ONE Spark program, whatever the number of tables.

The job builds a query per table for its decoding, typing and staging: Spark analyses,
compiles and runs each table's part apart, and a part costs its fixed time whatever its
rows (docs/benchmarks.md, *What a table costs*). Here what differs between tables is
data, not code: each table's column types (its key first) sit in a map that the one
program looks up by the record's table, so the plan is the same for 1 table or 200. It
is what the 200-table goal (at most 2x the time of 1 table) asks of a design, measured.

What the floor does, in `bench.tables`'s DMS CSV landing layout (`<root>/bench/<table>/`):
1. the target tables and their staging tables created, in one transaction;
2. every file read by one scan, each line's table taken from its folder, parsed as CSV
   into the widest table's field count, every value cast to its column's type and back
   to text (a value that does not cast, or a missing key, makes its record not ok), the
   records counted by (table, operation, ok) in one Spark job, as the job counts its;
3. the last ok change per (table, key), staged by one Spark job: each partition a `COPY`
   into the staging table of each table it holds;
4. one transaction: each table's deletes and upserts from its staging table, which is
   then dropped.

On the lake (`one_program_lake`), step 3 writes instead, in the same one Spark job, a
Parquet file for each table each partition holds, its values cast to the table's types by
Arrow, deletes dropped, and there are no steps 1 and 4: what the plain floor writes, a table at a
time, written for every table at once (a Spark write has one schema; the tables have theirs).

Like the plain floor, none of the job's guarantees: no sequence guard against older
changes, no tombstones, no ledger, no quarantine, no check of a line's field count.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, Row, SparkSession, Window
from pyspark.sql import functions as F

from sinks.redshift import ConnectionSettings
from sinks.redshift.connection import DriverExecutor
from sinks.redshift.copy_batch import copy_grouped
from sinks.redshift.dialect import dialect_of
from sinks.redshift.statements import Statement, quote

__all__ = ["one_program_lake", "one_program_warehouse"]

Columns = Sequence[tuple[str, str]]  # (name, Spark type) of a table; its key first


def one_program_warehouse(
    spark: SparkSession,
    root: Path,
    tables: Mapping[str, Columns],
    settings: ConnectionSettings,
    schema: str,
) -> dict[tuple[str, str, bool], int]:
    """Every table of `tables` loaded from its landing folder under `root` into `schema`;
    the records counted by (table, operation, ok)."""
    names = sorted(tables)
    warehouse = DriverExecutor(settings)
    warehouse.transaction(_create(schema, tables))
    staging = {
        n: (f"{quote(schema)}.{quote(n + '__stage')}", ["op", *[c for c, _ in tables[n]]])
        for n in names
    }

    def stage(latest: DataFrame) -> None:
        changes = latest.select("table", F.concat(F.array("op"), "values"))
        copy_grouped(settings, changes, staging)  # the job's own staging COPY

    counts = _load(spark, root, tables, stage)
    warehouse.transaction([s for n in names for s in _merge(schema, n, [c for c, _ in tables[n]])])
    return counts


def one_program_lake(
    spark: SparkSession, root: Path, tables: Mapping[str, Columns], path: Path
) -> dict[tuple[str, str, bool], int]:
    """Every table of `tables` loaded from its landing folder under `root` into Parquet
    files under `path/<table>/`, deletes dropped; the records counted by (table,
    operation, ok)."""
    columns = dict(tables)
    return _load(
        spark,
        root,
        tables,
        lambda latest: latest.foreachPartition(lambda rows: _write(str(path), columns, rows)),
    )


def _load(
    spark: SparkSession,
    root: Path,
    tables: Mapping[str, Columns],
    write: Callable[[DataFrame], None],
) -> dict[tuple[str, str, bool], int]:
    """The records counted (one Spark job), then the last ok change of each (table, key)
    handed to `write` (one more: `_latest`)."""
    records = _records(spark, root, tables).persist()
    try:
        counts = {
            (str(r["table"]), str(r["op"]), bool(r["ok"])): int(r["count"])
            for r in records.groupBy("table", "op", "ok").count().collect()
        }
        write(_latest(records))
    finally:
        records.unpersist()
    return counts


def _records(spark: SparkSession, root: Path, tables: Mapping[str, Columns]) -> DataFrame:
    """(table, op, file, row, ok, key, values as text) of every line of every table."""
    width = max(len(columns) for columns in tables.values())
    fields = ", ".join(f"f{i} string" for i in range(width + 1))
    types = F.create_map(
        *[
            v
            for n, cols in tables.items()
            for v in (F.lit(n), F.array(*[F.lit(t) for _, t in cols]))
        ]
    )
    kinds = sorted({t for cols in tables.values() for _, t in cols})
    lines = spark.read.text(str(root / "bench" / "*" / "*.csv"))
    file = F.input_file_name()
    load = file.rlike("/LOAD[^/]*$")
    line = F.when(load, F.concat(F.lit("L,"), F.col("value"))).otherwise(F.col("value"))
    parsed = lines.select(
        F.regexp_extract(file, r"/bench/([^/]+)/[^/]+$", 1).alias("table"),
        file.alias("file"),
        F.monotonically_increasing_id().alias("row"),
        F.from_csv(line, fields).alias("r"),
    )
    declared = F.element_at(types, F.col("table"))
    raw = F.slice(F.array(*[F.col(f"r.f{i}") for i in range(1, width + 1)]), 1, F.size(declared))
    typed = F.zip_with(raw, declared, lambda value, kind: _as_text(value, kind, kinds))
    cast = F.forall(F.arrays_zip(raw.alias("raw"), typed.alias("typed")),
                    lambda z: z["raw"].isNull() | z["typed"].isNotNull())  # fmt: skip
    return parsed.where(declared.isNotNull()).select(
        "table",
        F.col("r.f0").alias("op"),
        "file",
        "row",
        (cast & typed[0].isNotNull()).alias("ok"),
        typed[0].alias("key"),
        typed.alias("values"),
    )


def _as_text(value: Column, kind: Column, kinds: Sequence[str]) -> Column:
    """The value cast to the column's type (`kind`, one of `kinds`), back as text; NULL
    when it does not cast. One CASE for every table: the types are data."""
    cases = F.when(kind == "string", value)
    for name in kinds:
        if name != "string":
            cases = cases.when(kind == name, value.cast(name).cast("string"))
    return cases


def _latest(records: DataFrame) -> DataFrame:
    """The last ok change of each (table, key): the load's rows first, then the CDC files
    and their lines in order; grouped by table in each of as many partitions as cores."""
    order = Window.partitionBy("table", "key").orderBy(
        (F.col("op") != "L").desc(), F.col("file").desc(), F.col("row").desc()
    )
    last = records.where("ok").withColumn("n", F.row_number().over(order)).where("n = 1")
    cores = records.sparkSession.sparkContext.defaultParallelism
    return last.select("table", "op", "values").coalesce(cores).sortWithinPartitions("table")


def _write(path: str, tables: Mapping[str, Columns], rows: Iterator[Row]) -> None:
    """Runs on an executor: a Parquet file for each table the partition holds, its values
    cast from text to the table's types by Arrow; deletes dropped."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark import TaskContext

    task = TaskContext.get()
    part = task.partitionId() if task is not None else 0
    for table, group in itertools.groupby(rows, lambda r: r["table"]):
        kept = [r["values"] for r in group if r["op"] != "D"]
        names = [name for name, _ in tables[table]]
        arrays = [
            _arrow_values([values[i] for values in kept], kind)
            for i, (_, kind) in enumerate(tables[table])
        ]
        folder = Path(path) / table
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.Table.from_arrays(arrays, names=names), folder / f"part-{part:05d}.parquet"
        )


def _arrow_values(texts: list[str | None], kind: str) -> Any:
    """Text values as an Arrow array of a Spark type of the config's vocabulary (a
    timestamp's text is in the session's time zone, UTC)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    simple = {
        "string": pa.string(),
        "boolean": pa.bool_(),
        "int": pa.int32(),
        "bigint": pa.int64(),
        "float": pa.float32(),
        "double": pa.float64(),
        "date": pa.date32(),
    }
    values = pa.array(texts, pa.string())
    if kind in simple:
        return values.cast(simple[kind])
    if kind == "timestamp":
        return pc.assume_timezone(values.cast(pa.timestamp("us")), "UTC")
    decimal = re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", kind)
    if decimal is None:
        raise ValueError(f"type {kind} has no Arrow type here")
    return values.cast(pa.decimal128(int(decimal.group(1)), int(decimal.group(2))))


def _create(schema: str, tables: Mapping[str, Columns]) -> list[Statement]:
    """Every table and its staging table."""
    dialect = dialect_of("postgres")
    statements = [f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}"]
    for name, columns in sorted(tables.items()):
        body = ", ".join(f"{quote(c)} {dialect.sql_type(t)}" for c, t in columns)
        key = quote(columns[0][0])
        statements += [
            f"CREATE TABLE {quote(schema)}.{quote(name)} ({body}, PRIMARY KEY ({key}))",
            f"CREATE TABLE {quote(schema)}.{quote(name + '__stage')} (op TEXT, {body})",
        ]
    return [Statement(sql) for sql in statements]


def _merge(schema: str, name: str, columns: Sequence[str]) -> list[Statement]:
    """A table's deletes and upserts from its staging table, which is then dropped."""
    target, stage = f"{quote(schema)}.{quote(name)}", f"{quote(schema)}.{quote(name + '__stage')}"
    key, listed = quote(columns[0]), ", ".join(quote(c) for c in columns)
    updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in columns[1:])
    return [
        Statement(f"DELETE FROM {target} t USING {stage} s WHERE s.op = 'D' AND t.{key} = s.{key}"),
        Statement(
            f"INSERT INTO {target} ({listed}) SELECT {listed} FROM {stage} WHERE op <> 'D' "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
        ),
        Statement(f"DROP TABLE {stage}"),
    ]

"""The one-program floor of a warehouse batch: every table decoded, typed and staged by ONE
Spark program whatever the number of tables.

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

Like the plain floor, none of the job's guarantees: no sequence guard against older
changes, no tombstones, no ledger, no quarantine, no check of a line's field count.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from pyspark.sql import Column, DataFrame, Row, SparkSession, Window
from pyspark.sql import functions as F

from sinks.redshift import ConnectionSettings
from sinks.redshift.dialect import dialect_of
from sinks.redshift.statements import quote

__all__ = ["one_program_floor"]

Columns = Sequence[tuple[str, str]]  # (name, Spark type) of a table; its key first


def one_program_floor(
    spark: SparkSession,
    root: Path,
    tables: Mapping[str, Columns],
    settings: ConnectionSettings,
    schema: str,
) -> dict[tuple[str, str, bool], int]:
    """Every table of `tables` loaded from its landing folder under `root` into `schema`;
    the records counted by (table, operation, ok)."""
    names = sorted(tables)
    _run(settings, _create(schema, tables))
    records = _records(spark, root, tables).persist()
    try:
        counts = {
            (str(r["table"]), str(r["op"]), bool(r["ok"])): int(r["count"])
            for r in records.groupBy("table", "op", "ok").count().collect()
        }
        staging = {
            n: (quote(schema), quote(f"{n}__stage"), [c for c, _ in tables[n]]) for n in names
        }
        _latest(records).foreachPartition(lambda rows: _copy(settings, staging, rows))
    finally:
        records.unpersist()
    _run(settings, [s for n in names for s in _merge(schema, n, [c for c, _ in tables[n]])])
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


def _copy(
    settings: ConnectionSettings,
    staging: Mapping[str, tuple[str, str, list[str]]],
    rows: Iterator[Row],
) -> None:
    """Runs on an executor: one connection, a COPY for each table the partition holds."""
    first = next(rows, None)
    if first is None:
        return
    conn = settings.connect()
    try:
        with conn.cursor() as cur:
            for table, group in itertools.groupby(
                itertools.chain([first], rows), lambda r: r["table"]
            ):
                schema, stage, columns = staging[table]
                names = ", ".join(quote(c) for c in ["op", *columns])
                with cur.copy(f"COPY {schema}.{stage} ({names}) FROM STDIN") as copy:
                    for row in group:
                        copy.write_row([row["op"], *row["values"]])
        conn.commit()
    finally:
        conn.close()


def _create(schema: str, tables: Mapping[str, Columns]) -> list[str]:
    dialect = dialect_of("postgres")
    statements = [f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}"]
    for name, columns in sorted(tables.items()):
        body = ", ".join(f"{quote(c)} {dialect.sql_type(t)}" for c, t in columns)
        key = quote(columns[0][0])
        statements += [
            f"CREATE TABLE {quote(schema)}.{quote(name)} ({body}, PRIMARY KEY ({key}))",
            f"CREATE TABLE {quote(schema)}.{quote(name + '__stage')} (op TEXT, {body})",
        ]
    return statements


def _merge(schema: str, name: str, columns: Sequence[str]) -> list[str]:
    """A table's deletes and upserts from its staging table, which is then dropped."""
    target, stage = f"{quote(schema)}.{quote(name)}", f"{quote(schema)}.{quote(name + '__stage')}"
    key, listed = quote(columns[0]), ", ".join(quote(c) for c in columns)
    updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in columns[1:])
    return [
        f"DELETE FROM {target} t USING {stage} s WHERE s.op = 'D' AND t.{key} = s.{key}",
        f"INSERT INTO {target} ({listed}) SELECT {listed} FROM {stage} WHERE op <> 'D' "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}",
        f"DROP TABLE {stage}",
    ]


def _run(settings: ConnectionSettings, statements: Sequence[str]) -> None:
    """`statements` in one transaction."""
    conn = settings.connect()
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
        conn.commit()
    finally:
        conn.close()

"""The one-program floor (bench/one_program.py) loads tables of different columns and
types from one scan, in as many Spark jobs whatever the number of tables, and ends with
the last change of every key, in the warehouse and on the lake."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from bench.one_program import one_program_lake, one_program_warehouse
from runtime.metrics import JobCount
from sinks.redshift import ConnectionSettings

TABLES = {
    "people": [("id", "int"), ("name", "string"), ("born", "date")],
    "orders": [("code", "string"), ("amount", "decimal(10,2)")],
    "events": [("n", "bigint"), ("kind", "string"), ("at", "timestamp"), ("weight", "double")],
}


def land(root: Path, table: str, load: list[str], cdc: list[str]) -> None:
    folder = root / "bench" / table
    folder.mkdir(parents=True)
    (folder / "LOAD00000001.csv").write_text("".join(f"{line}\n" for line in load))
    (folder / "20211101-000000001.csv").write_text("".join(f"{line}\n" for line in cdc))


def rows(settings: ConnectionSettings, sql: str) -> list[tuple[Any, ...]]:
    with settings.connect() as conn:
        cur = conn.cursor()
        cur.execute(sql)
        return sorted(tuple(str(v) for v in r) for r in cur.fetchall())


def land_three(tmp_path: Path) -> None:
    land(tmp_path, "people", ["1,Ann,1990-01-02", "2,Bob,1985-05-06", "3,Cy,2000-01-01"],
         ["U,1,Ann B,1990-01-02", "D,2,,", "U,3,Cy,not a date", "I,4,Dee,1970-12-31",
          "U,4,Dee C,1970-12-31"])  # fmt: skip
    land(tmp_path, "orders", ["A1,10.50", "B2,3.00"], ["D,A1,", "I,A1,99.99", "U,B2,x"])
    land(tmp_path, "events", ["7,start,2021-01-01 10:00:00,1.5"], ["U,,stop,2021-01-01,2.0"])


PEOPLE = [
    ("1", "Ann B", "1990-01-02"),  # updated
    ("3", "Cy", "2000-01-01"),  # the update whose date does not cast is not applied
    ("4", "Dee C", "1970-12-31"),  # inserted, then updated
]  # 2 deleted
ORDERS = [
    ("A1", "99.99"),  # deleted, then inserted again
    ("B2", "3.00"),  # "x" is not a decimal
]
EVENTS = [("7", "start", "2021-01-01 10:00:00", "1.5")]  # a change without its key is not ok


def test_tables_of_different_shapes_end_with_each_keys_last_change(
    spark: SparkSession, postgres: ConnectionSettings, tmp_path: Path
) -> None:
    land_three(tmp_path)
    schema = f"o_{uuid.uuid4().hex[:8]}"

    counts = one_program_warehouse(spark, tmp_path, TABLES, postgres, schema)

    assert rows(postgres, f'SELECT id, name, born FROM {schema}."people"') == PEOPLE
    assert rows(postgres, f'SELECT code, amount FROM {schema}."orders"') == ORDERS
    assert rows(postgres, f'SELECT n, kind, at, weight FROM {schema}."events"') == EVENTS
    assert counts[("people", "U", False)] == 1
    assert counts[("people", "U", True)] == 2
    assert counts[("orders", "L", True)] == 2
    assert counts[("orders", "U", False)] == 1
    assert counts[("events", "U", False)] == 1
    listed = f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'"
    assert rows(postgres, listed) == [("events",), ("orders",), ("people",)]  # stages dropped


def test_its_spark_jobs_do_not_grow_with_the_tables(
    spark: SparkSession, postgres: ConnectionSettings, tmp_path: Path
) -> None:
    jobs = []
    for count in (1, 12):
        root = tmp_path / str(count)
        tables = {f"t{i:02d}": TABLES["people"] for i in range(count)}
        for name in tables:
            land(root, name, ["1,Ann,1990-01-02"], ["U,1,Ann B,1990-01-02", "I,2,Bo,2001-02-03"])
        before = JobCount(spark.sparkContext)
        one_program_warehouse(spark, root, tables, postgres, f"j_{uuid.uuid4().hex[:8]}")
        jobs.append(before.since())
    assert jobs[0] == jobs[1]


def test_on_the_lake_each_table_is_parquet_files_of_its_own_types(
    spark: SparkSession, tmp_path: Path
) -> None:
    land_three(tmp_path / "landing")

    counts = one_program_lake(spark, tmp_path / "landing", TABLES, tmp_path / "lake")

    def read(table: str) -> list[tuple[str, ...]]:
        frame = spark.read.parquet(str(tmp_path / "lake" / table))
        assert [(f.name, f.dataType.simpleString()) for f in frame.schema.fields] == TABLES[table]
        return sorted(tuple(str(v) for v in row) for row in frame.collect())

    assert read("people") == [(i, n, b) for i, n, b in PEOPLE]
    assert read("orders") == ORDERS
    assert read("events") == EVENTS
    assert counts[("orders", "U", False)] == 1

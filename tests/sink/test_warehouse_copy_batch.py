"""A source batch's tables are staged into PostgreSQL by ONE Spark job, their rows as
text (sinks/redshift/copy_batch.py), and reach the warehouse as they were."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from runtime.metrics import JobCount
from sinks.redshift import ConnectionSettings, WarehouseEngine
from sinks.redshift.batch import WarehouseBatch
from sinks.redshift.connection import DriverExecutor
from sinks.redshift.copy_batch import CopyPart, staged_text
from sinks.redshift.dialect import LEDGER
from sinks.redshift.statements import Statement

BOOKKEEPING = "_op string, _seq string, _pos string, _commit_ts timestamp"


def rows_of(settings: ConnectionSettings, sql: str) -> list[tuple[Any, ...]]:
    with settings.connect() as conn:
        cur = conn.cursor()
        cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()]


def test_a_batch_of_many_tables_is_staged_by_one_spark_job(
    spark: SparkSession, postgres: ConnectionSettings
) -> None:
    schema = f"c_{uuid.uuid4().hex[:8]}"
    names = [f"t{i:02d}" for i in range(12)]
    engines = {n: WarehouseEngine(postgres, schema=schema, table=n, keys=["id"]) for n in names}
    engines["h"] = WarehouseEngine(postgres, schema=schema, table="h", keys=["id"], scd_type=2)
    batch = {}
    for i, name in enumerate(names):
        # The same keys in every table, each table's own values: nothing collapses across
        # tables; key 1 changes twice (its last change wins), key 2 is deleted.
        data = [
            (1, f"{name}-old", "I", "0001", "p1", None),
            (1, f"{name}-new", "U", "0002", "p2", None),
            (2, f"{name}-x", "I", "0001", "p3", None),
            (2, None, "D", "0003", "p4", None),
            (3 + i, f"{name}-only", "I", "0001", "p5", None),
        ]
        frame = spark.createDataFrame(data, f"id int, v string, {BOOKKEEPING}")
        batch[name] = (engines[name], frame)
    versions = [
        (1, "a", "I", "0001", "p1", datetime(2024, 1, 1)),
        (1, "b", "U", "0002", "p2", datetime(2024, 1, 2)),
    ]
    batch["h"] = (engines["h"], spark.createDataFrame(versions, f"id int, v string, {BOOKKEEPING}"))
    for _, frame in batch.values():
        frame.cache().count()
    context = spark.sparkContext
    context.setJobGroup(f"copy-{uuid.uuid4().hex}", "one batch of 13 tables")
    try:
        jobs = JobCount(context)
        results = WarehouseBatch(parallel=4).apply(batch, 1, "writer")
        assert jobs.since() == 1
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    for i, name in enumerate(names):
        found = rows_of(postgres, f'SELECT id, v FROM "{schema}"."{name}" ORDER BY id')
        assert found == [(1, f"{name}-new"), (3 + i, f"{name}-only")]
        assert (results[name].upserts, results[name].deletes) == (2, 1)
    # SCD type 2 keeps every change as a version, staged in the same job.
    assert len(rows_of(postgres, f'SELECT * FROM "{schema}".h')) == 2
    leftovers = rows_of(
        postgres,
        "SELECT table_name FROM information_schema.tables "
        f"WHERE table_schema = '{schema}' AND table_name LIKE '%%__stage_%%'",
    )
    assert leftovers == []


def test_values_of_every_warehouse_type_arrive_as_they_were(
    spark: SparkSession, postgres: ConnectionSettings
) -> None:
    schema = f"c_{uuid.uuid4().hex[:8]}"
    columns = (
        "id bigint, flag boolean, tiny tinyint, small smallint, n int, f float, d double, "
        "day date, at timestamp, money decimal(38,18), text string"
    )
    values = [
        (1, True, -128, -32768, -(2**31), 1.5, 0.1 + 0.2, date(1, 1, 1),
         datetime(2024, 2, 29, 23, 59, 59, 123456),
         Decimal("12345678901234567890.123456789012345678"),
         "tab\there, new\nline, back\\slash, 'quote' \"double\", ünïcode, \\N"),
        (2, False, 127, 32767, 2**31 - 1, float("inf"), 1e-300, date(9999, 12, 31),
         datetime(1970, 1, 1), Decimal("-0.000000000000000001"), ""),
        (3, None, None, None, None, None, None, None, None, None, None),
    ]  # fmt: skip
    data = [(*row, "I", "0001", f"p{row[0]}", None) for row in values]
    engine = WarehouseEngine(postgres, schema=schema, table="typed", keys=["id"])
    engine.apply(spark.createDataFrame(data, f"{columns}, {BOOKKEEPING}"), 1, "writer")
    found = rows_of(
        postgres,
        "SELECT id, flag, tiny, small, n, f, d, day, at, money, text "
        f'FROM "{schema}".typed ORDER BY id',
    )
    assert found == values


def test_changes_of_one_key_collapse_per_table_and_minus_zero_is_zero(
    spark: SparkSession,
) -> None:
    def part(table: str, rows: list[tuple[Any, ...]], key_type: str) -> CopyPart:
        frame = spark.createDataFrame(rows, f"k {key_type}, v string, _op string, _seq string, "
                                      "_pos string")  # fmt: skip
        return CopyPart(f'"s"."{table}"', ["k", "v", "_op"], frame, ["k"])

    parts = [
        part("a", [(0.0, "first", "I", "1", "p1"), (-0.0, "second", "U", "2", "p2")], "double"),
        part("b", [(0.0, "other table", "I", "1", "p1")], "double"),
    ]
    found = sorted((r["__table"], tuple(r["__values"])) for r in staged_text(parts).collect())
    expected = [('"s"."a"', ("-0.0", "second", "U")), ('"s"."b"', ("0.0", "other table", "I"))]
    assert found == expected


def test_a_batch_asks_the_ledger_once_before_and_once_after_whatever_its_tables(
    spark: SparkSession, postgres: ConnectionSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Redshift's Data API every statement is a request of its own: a batch of 200
    tables asking its ledger twice a table and dropping each staging table apart would
    make 600 of them."""
    schema = f"c_{uuid.uuid4().hex[:8]}"
    names = [f"t{i}" for i in range(6)]
    engines = {n: WarehouseEngine(postgres, schema=schema, table=n, keys=["id"]) for n in names}
    frames = {
        n: spark.createDataFrame(
            [(i, f"{n}-v", "I", "0001", "p1", None)], f"id int, v string, {BOOKKEEPING}"
        )
        for i, n in enumerate(names)
    }
    batch = {n: (engines[n], frames[n]) for n in names}
    asked: list[str] = []
    real_query, real_transaction = DriverExecutor.query, DriverExecutor.transaction

    def query(self: DriverExecutor, statement: Statement) -> list[tuple[Any, ...]]:
        asked.append("query " + statement.sql)
        return real_query(self, statement)

    def transaction(self: DriverExecutor, statements: Sequence[Statement]) -> list[int]:
        asked.append("transaction " + " ; ".join(s.sql for s in statements))
        return real_transaction(self, statements)

    monkeypatch.setattr(DriverExecutor, "query", query)
    monkeypatch.setattr(DriverExecutor, "transaction", transaction)
    WarehouseBatch(parallel=4).apply(batch, 1, "w")  # the tables created: not counted
    asked.clear()
    results = WarehouseBatch(parallel=4).apply(
        {n: (e, f.withColumn("_seq", F.lit("0002"))) for n, (e, f) in batch.items()}, 2, "w"
    )
    ledger = [a for a in asked if a.startswith("query") and LEDGER in a]
    assert len(ledger) == 2  # which tables the batch was applied to, then their counts
    drops = [a for a in asked if a.startswith("transaction DROP") and "CREATE" not in a]
    assert len(drops) == 1 and drops[0].count("DROP TABLE") == len(names)
    assert all(results[n].upserts == 1 and not results[n].skipped for n in names)
    asked.clear()
    replayed = WarehouseBatch(parallel=4).apply(batch, 2, "w")  # applied already: skipped
    assert all(replayed[n].skipped for n in names)
    assert [a for a in asked if LEDGER in a] == [ledger[0]]
    assert not [a for a in asked if a.startswith("transaction")]

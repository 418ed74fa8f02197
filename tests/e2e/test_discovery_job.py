"""Whole-database mode through the real streaming query, in-process: tables by pattern,
their schemas from the source's catalog, new tables and schema changes while running.

The catalog is held in memory here (the job asks it exactly as it asks MariaDB's
`information_schema`, which tests/e2e/test_sports_pipeline.py uses on the local stack);
the records are DMS JSON landing files, one folder per table under one root.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest
from pyspark.sql import SparkSession

import runtime.runner
from config import JobConfig
from runtime.runner import run
from runtime.status import BROKEN, health
from runtime.status_read import read_status
from sources.discovery import DiscoveredTable
from transforms.types import DatabaseColumn


class Catalog:
    """A source catalog in memory; a test changes it as a DBA changes the database.

    A change made `later` shows once the job has described the table (at its start), as
    a change made while the job runs: the next time the job asks, or when a new table's
    first change arrives.
    """

    def __init__(self) -> None:
        self.tables: dict[tuple[str, str], DiscoveredTable] = {}
        self.pending: dict[tuple[str, str], DiscoveredTable] = {}
        self.described: set[tuple[str, str]] = set()

    @staticmethod
    def _table(table: str, columns: list[tuple[str, str, str]]) -> DiscoveredTable:
        """Columns as (name, DATA_TYPE, COLUMN_TYPE); the first one is the key."""
        found = []
        for name, kind, full in columns:
            digits = re.findall(r"\d+", full)
            precision = int(digits[0]) if digits else None
            scale = int(digits[1]) if kind == "decimal" and len(digits) > 1 else None
            found.append(DatabaseColumn(name, kind, full, precision, scale))
        return DiscoveredTable("shop", table, tuple(found), (columns[0][0],))

    def add(self, table: str, columns: list[tuple[str, str, str]]) -> None:
        self.tables[("shop", table)] = self._table(table, columns)

    def later(self, table: str, columns: list[tuple[str, str, str]]) -> None:
        self.pending[("shop", table)] = self._table(table, columns)
        self.described.clear()  # a new run of the job starts from what is there now

    def names(self) -> list[tuple[str, str]]:
        return sorted(self.tables)

    def describe(self, schema: str, table: str) -> DiscoveredTable | None:
        key = (schema, table)
        if key in self.pending and (key in self.described or key not in self.tables):
            self.tables[key] = self.pending.pop(key)
        self.described.add(key)
        return self.tables.get(key)


@pytest.fixture
def catalog(monkeypatch: pytest.MonkeyPatch) -> Catalog:
    catalog = Catalog()
    catalog.add("orders", [("id", "int", "int"), ("item", "varchar", "varchar(20)"),
                           ("price", "decimal", "decimal(30,9)"),
                           ("placed", "datetime", "datetime(6)")])  # fmt: skip
    catalog.add("refunds", [("id", "int", "int"), ("amount", "int", "int")])
    monkeypatch.setattr(runtime.runner, "catalog_of", lambda config: catalog)
    return catalog


def job(tmp_path: Path) -> JobConfig:
    return JobConfig.model_validate(
        {
            "name": "shop",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": {"path": str(tmp_path / "landing"), "format": "dms-json"},
            "tables": [{"include": "shop.*"}],
            "target": {"path": str(tmp_path / "lake")},
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )


def land(tmp_path: Path, table: str, name: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    folder = tmp_path / "landing" / "shop" / table
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"data": data, "metadata": {"record-type": "data", "operation": op,
                    "schema-name": "shop", "table-name": table}})
        for op, data in rows
    ]  # fmt: skip
    text = "\n".join(lines).replace('"__n:', "").replace('__"', "")  # bare JSON numbers
    (folder / name).write_text(text + "\n", encoding="utf-8")


def lake(tmp_path: Path, table: str) -> list[dict[str, Any]]:
    path = tmp_path / "lake" / table
    rows: list[dict[str, Any]] = pads.dataset(str(path), format="parquet").to_table().to_pylist()
    return sorted(rows, key=lambda r: str(next(iter(r.values()))))


def test_a_pattern_replicates_tables_with_discovered_types_and_every_decimal_digit(
    spark: SparkSession, tmp_path: Path, catalog: Catalog
) -> None:
    land(tmp_path, "orders", "1.json", [
        ("load", {"id": 1, "item": "pen", "price": "__n:12345678901234567890.123456789__",
                  "placed": "2021-05-05 10:00:00.000001"}),
    ])  # fmt: skip
    land(tmp_path, "refunds", "1.json", [("insert", {"id": 7, "amount": 3})])

    outcome = run(spark, job(tmp_path), once=True)

    assert outcome.errors == []
    (order,) = lake(tmp_path, "orders")
    assert str(order["price"]) == "12345678901234567890.123456789"
    assert str(order["placed"]) == "2021-05-05 10:00:00.000001"
    assert lake(tmp_path, "refunds") == [{"id": 7, "amount": 3}]


def test_a_new_table_and_a_new_column_are_followed_and_a_dropped_one_stops_its_table(
    spark: SparkSession, tmp_path: Path, catalog: Catalog
) -> None:
    config = job(tmp_path)
    land(tmp_path, "refunds", "1.json", [("insert", {"id": 1, "amount": 5})])
    land(tmp_path, "orders", "1.json", [("insert", {"id": 1, "item": "pen"})])
    assert run(spark, config, once=True).errors == []

    # While the job runs, the DBA adds a table, adds a column to refunds, drops one of orders.
    catalog.later("coupons", [("code", "varchar", "varchar(8)"), ("pct", "int", "int")])
    catalog.later("refunds", [("id", "int", "int"), ("amount", "int", "int"),
                              ("reason", "varchar", "varchar(40)")])  # fmt: skip
    catalog.later("orders", [("id", "int", "int"), ("price", "decimal", "decimal(30,9)"),
                             ("placed", "datetime", "datetime(6)")])  # fmt: skip
    land(tmp_path, "coupons", "2.json", [("insert", {"code": "SPRING", "pct": 10})])
    land(tmp_path, "refunds", "2.json", [("insert", {"id": 2, "amount": 6, "reason": "late"})])
    land(tmp_path, "orders", "2.json", [("insert", {"id": 2, "price": "__n:1.5__"})])

    outcome = run(spark, config, once=True)

    assert outcome.errors == []
    assert lake(tmp_path, "coupons") == [{"code": "SPRING", "pct": 10}]
    assert lake(tmp_path, "refunds") == [
        {"id": 1, "amount": 5, "reason": None},
        {"id": 2, "amount": 6, "reason": "late"},
    ]
    assert [r["id"] for r in lake(tmp_path, "orders")] == [1], "orders stopped"
    reasons = {
        json.loads(line)["reason"]
        for part in (tmp_path / "quarantine" / "orders").rglob("*.json")
        for line in part.read_text().splitlines()
    }
    (reason,) = reasons
    assert reason.startswith("table orders stopped: column item dropped or renamed; to resume")

    # `status` says so, and exits 2 (broken); the tables it found are listed with it.
    report = read_status(spark, config, max_lag_s=900)
    assert health(report) == BROKEN
    assert report.reasons == ["table orders stopped: column item dropped or renamed"]
    assert [(t.name, t.applied, t.quarantined) for t in report.tables] == [
        ("coupons", 1, 0), ("orders", 1, 1), ("refunds", 2, 0)
    ]  # fmt: skip

"""The poison catalog: bad input through the real job, beside valid records.

Each kind either applies correctly or goes to quarantine with its own reason; the
valid records of the same file are applied and the stream keeps going.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest
from pyspark.sql import SparkSession

from config import JobConfig
from runtime.runner import run


def job(tmp_path: Path) -> JobConfig:
    return JobConfig.model_validate(
        {
            "name": "poison",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": {"path": str(tmp_path / "landing"), "format": "dms-json"},
            "tables": [
                {
                    "name": "orders",
                    "source_schema": "shop",
                    "keys": ["id"],
                    "columns": [
                        {"name": "id", "type": "bigint"},
                        {"name": "item", "type": "string"},
                        {"name": "qty", "type": "int"},
                        {"name": "placed", "type": "date"},
                        {"name": "paid_at", "type": "timestamp"},
                    ],
                    "max_string_bytes": 1000,
                }
            ],
            "target": {"path": str(tmp_path / "lake")},
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )


def record(
    op: str, data: dict[str, Any] | None, *, table: str = "orders", kind: str = "data"
) -> str:
    body: dict[str, Any] = {
        "metadata": {
            "timestamp": "2021-08-16T06:05:01.123456Z",
            "record-type": kind,
            "operation": op,
            "schema-name": "shop",
            "table-name": table,
        }
    }
    if data is not None:
        body["data"] = data
    return json.dumps(body, ensure_ascii=False)


def good(n: int, **extra: Any) -> str:
    row = {"id": n, "item": f"item-{n}", "qty": n, "placed": "2021-01-05", **extra}
    return record("insert", row)


# (kind, the line, the reason expected in quarantine or None when it must apply/skip)
CATALOG: list[tuple[str, bytes, str | None]] = [
    ("invalid JSON", b'{"data": {"id": 1,, }', "malformed JSON record"),
    ("truncated record", good(100).encode()[:40], "malformed JSON record"),
    (
        "invalid UTF-8",
        good(101).replace("item-101", "item-\udcff").encode("utf-8", "surrogateescape"),
        "invalid UTF-8",
    ),
    (
        "missing key column",
        record("insert", {"item": "x", "qty": 1}).encode(),
        "key column id is null",
    ),
    ("null key", record("insert", {"id": None, "item": "x"}).encode(), "key column id is null"),
    (
        "wrong type",
        record("insert", {"id": 102, "qty": "twelve"}).encode(),
        "column qty: not a valid int",
    ),
    ("unknown operation", record("merge", {"id": 103}).encode(), "unknown operation"),
    (
        "oversized field",
        good(104, item="x" * 5000).encode(),
        "column item: 5000 bytes, over max_string_bytes 1000",
    ),
    ("empty message", b"   ", "empty record"),
    (
        "timestamp in another format",
        good(105, paid_at="16/08/2021 06:05").encode(),
        "column paid_at: not a valid timestamp",
    ),
    ("data record without data", record("insert", None).encode(), "DMS data record without data"),
]
APPLIED: list[tuple[str, bytes]] = [
    ("extra columns", good(200, colour="red", size=3).encode()),
    ("missing columns", record("insert", {"id": 201}).encode()),
    ("timestamp with offset", good(202, paid_at="2021-08-16T08:05:01+02:00").encode()),
    ("unicode", good(203, item="grüße 日本 🎫").encode()),
]
SKIPPED: list[tuple[str, bytes]] = [
    ("control record", record("create-table", None, kind="control").encode()),
    ("DDL (schema change)", record("add-column", None, kind="ddl").encode()),
    ("unknown table", record("insert", {"id": 300}, table="invoices").encode()),
]


GOOD_IDS = range(1, len(CATALOG) + 2)  # one valid record before and after each poison


@pytest.fixture
def outcome(spark: SparkSession, tmp_path: Path) -> tuple[Path, Any]:
    landing = tmp_path / "landing" / "shop" / "orders"
    landing.mkdir(parents=True)
    lines = [good(1).encode()]
    for n, (_, line, _) in enumerate(CATALOG, start=2):
        lines += [line, good(n).encode()]
    lines += [line for _, line in APPLIED] + [line for _, line in SKIPPED]
    (landing / "batch-1.json").write_bytes(b"\n".join(lines) + b"\n")
    return tmp_path, run(spark, job(tmp_path), once=True)


def test_each_poison_goes_to_quarantine_with_its_reason(outcome: tuple[Path, Any]) -> None:
    tmp_path, result = outcome
    assert not result.errors, "the stream must keep going"
    rows = [
        json.loads(line)
        for f in (tmp_path / "quarantine").rglob("*.json")
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.strip()
    ]
    reasons = sorted(r["reason"] for r in rows)

    assert reasons == sorted(reason for _, _, reason in CATALOG if reason)
    assert result.tables[0].quarantined == len(CATALOG)


def test_valid_records_beside_the_poison_are_applied(outcome: tuple[Path, Any]) -> None:
    tmp_path, result = outcome
    table = pads.dataset(str(tmp_path / "lake" / "orders"), format="parquet").to_table()
    rows = {r["id"]: r for r in table.to_pylist()}

    assert set(rows) == {*GOOD_IDS, 200, 201, 202, 203}
    assert rows[201]["item"] is None and rows[201]["qty"] is None
    assert str(rows[202]["paid_at"]) == "2021-08-16 06:05:01"
    assert rows[203]["item"] == "grüße 日本 🎫"
    assert result.tables[0].skipped == len(SKIPPED)

"""SCD type 2 through the real job: DMS JSON files into a Delta or Iceberg history table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from config import JobConfig
from runtime.runner import run
from tests.contract.targets import iceberg_rows, second_of

TARGETS = {
    "delta": {"kind": "delta", "path": "delta"},
    # a Spark catalog of its own: the session is shared with other tests' catalogs
    "iceberg": {"kind": "iceberg", "path": "iceberg", "spark_catalog": "iceberg_history_job"},
}


def job(tmp_path: Path, kind: str = "delta") -> JobConfig:
    return JobConfig.model_validate(
        {
            "name": "history",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": {"path": str(tmp_path / "landing"), "format": "dms-json"},
            "tables": [
                {
                    "name": "customer",
                    "source_schema": "shop",
                    "keys": ["id"],
                    "columns": [
                        {"name": "id", "type": "int"},
                        {"name": "email", "type": "string"},
                        {"name": "updated", "type": "timestamp"},
                    ],
                    "sequence_by": ["updated"],
                    "scd_type": 2,
                }
            ],
            "target": {**TARGETS[kind], "path": str(tmp_path / kind)},
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )


def record(op: str, data: dict[str, Any], at: str) -> str:
    """A change committed (and stamped `updated`) at second `at`."""
    stamp = f"2024-05-01T12:00:{at}.000000Z"
    data = {**data, "updated": stamp}
    meta = {
        "timestamp": stamp,
        "record-type": "data",
        "operation": op,
        "schema-name": "shop",
        "table-name": "customer",
    }
    return json.dumps({"data": data, "metadata": meta})


def land(tmp_path: Path, name: str, lines: list[str]) -> None:
    folder = tmp_path / "landing" / "shop" / "customer"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def history(spark: SparkSession, tmp_path: Path, kind: str) -> set[tuple[Any, ...]]:
    if kind == "iceberg":  # PyIceberg, from the table's current metadata file
        table = tmp_path / "iceberg" / "cdc" / "customer"
        found = iceberg_rows(table, ("id", "email", "valid_from", "valid_to", "is_current"))
        return {(i, e, second_of(f), second_of(t), c) for i, e, f, t, c in found}
    rows = (
        spark.read.format("delta")
        .load(str(tmp_path / "delta" / "customer"))
        .selectExpr("id", "email", "second(valid_from)", "second(valid_to)", "is_current")
        .collect()
    )
    return {tuple(r) for r in rows}


@pytest.mark.parametrize("kind", ["delta", "iceberg"])
def test_history_table_keeps_every_version_and_a_late_change_lands_in_the_middle(
    spark: SparkSession, tmp_path: Path, kind: str
) -> None:
    land(
        tmp_path,
        "1.json",
        [
            record("load", {"id": 1, "email": "a@x"}, "01"),
            record("update", {"id": 1, "email": "c@x"}, "03"),
            record("insert", {"id": 2, "email": "z@x"}, "01"),
            record("delete", {"id": 2}, "05"),
        ],
    )
    first = run(spark, job(tmp_path, kind), once=True)
    assert not first.errors
    assert history(spark, tmp_path, kind) == {
        (1, "a@x", 1, 3, False),
        (1, "c@x", 3, None, True),
        (2, "z@x", 1, 5, False),
    }

    land(tmp_path, "2.json", [record("update", {"id": 1, "email": "b@x"}, "02")])
    second = run(spark, job(tmp_path, kind), once=True)
    assert not second.errors
    assert history(spark, tmp_path, kind) == {
        (1, "a@x", 1, 2, False),
        (1, "b@x", 2, 3, False),
        (1, "c@x", 3, None, True),
        (2, "z@x", 1, 5, False),
    }

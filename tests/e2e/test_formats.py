"""Each DMS landing format through the real streaming query, in-process."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from config import JobConfig
from runtime.runner import run


def job(tmp_path: Path, fmt: str) -> JobConfig:
    return JobConfig.model_validate(
        {
            "name": "formats",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": {"path": str(tmp_path / "landing"), "format": fmt},
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
                    ],
                    "derived": [{"name": "month", "expr": "month(placed)"}],
                    "partition_by": ["month"],
                }
            ],
            "target": {"path": str(tmp_path / "lake")},
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )


def lake(tmp_path: Path) -> set[tuple[Any, ...]]:
    table = pads.dataset(
        str(tmp_path / "lake" / "orders"), format="parquet", partitioning="hive"
    ).to_table()
    rows = table.to_pylist()
    return {(r["id"], r["item"], r["qty"], str(r["placed"]), r["month"]) for r in rows}


def folder(tmp_path: Path) -> Path:
    path = tmp_path / "landing" / "shop" / "orders"
    path.mkdir(parents=True)
    return path


def test_dms_parquet_full_load_and_cdc_files_apply(spark: SparkSession, tmp_path: Path) -> None:
    landing = folder(tmp_path)
    load = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "item": ["pen", "ink", "cap"],
            "qty": pa.array([1, 2, 3], pa.int32()),
            "placed": pa.array(["2021-01-05", "2021-02-05", "2021-03-05"]).cast(pa.date32()),
        }
    )
    pq.write_table(load, landing / "LOAD00000001.parquet")
    cdc = pa.table(
        {
            "Op": ["U", "D", "I", "X"],
            "id": pa.array([1, 2, 4, 5], pa.int64()),
            "item": ["pen", None, "nib", "bad"],
            "qty": pa.array([10, None, 4, 5], pa.int32()),
            "placed": pa.array(["2021-04-01", None, "2021-01-09", "2021-01-01"]).cast(pa.date32()),
        }
    )
    pq.write_table(cdc, landing / "20210401-000000000.parquet")

    outcome = run(spark, job(tmp_path, "dms-parquet"), once=True)

    assert not outcome.errors
    assert lake(tmp_path) == {
        (1, "pen", 10, "2021-04-01", 4),
        (3, "cap", 3, "2021-03-05", 3),
        (4, "nib", 4, "2021-01-09", 1),
    }
    summary = outcome.tables[0]
    assert summary.quarantined == 1
    assert dict(summary.read_by_op) == {"L": 3, "U": 1, "D": 1, "I": 1}


def test_dms_csv_gzipped_in_date_folders_apply(spark: SparkSession, tmp_path: Path) -> None:
    """DMS's S3 target settings `compressionType=GZIP` (`.csv.gz` files) and
    `DatePartitionEnabled` (CDC files in `<yyyy>/<MM>/<dd>/` folders under the table's):
    read as they are, in file name order."""
    landing = folder(tmp_path)
    (landing / "LOAD00000001.csv.gz").write_bytes(
        gzip.compress(b"1,pen,1,2021-01-05\n2,ink,2,2021-02-05\n")
    )
    day = landing / "2021" / "04" / "01"
    day.mkdir(parents=True)
    (day / "20210401-000000000.csv.gz").write_bytes(
        gzip.compress(b"U,1,pen,10,2021-04-01\nD,2,,,\nI,3,nib,4,2021-01-09\n")
    )
    (day / "20210401-000000001.csv.gz").write_bytes(gzip.compress(b"U,3,nib,5,2021-01-09\n"))

    outcome = run(spark, job(tmp_path, "dms-csv"), once=True)

    assert not outcome.errors
    assert lake(tmp_path) == {(1, "pen", 10, "2021-04-01", 4), (3, "nib", 5, "2021-01-09", 1)}
    assert dict(outcome.tables[0].read_by_op) == {"L": 2, "U": 2, "D": 1, "I": 1}


def record(op: str, data: dict[str, Any], *, table: str = "orders", kind: str = "data") -> str:
    return json.dumps(
        {
            "data": data,
            "metadata": {
                "timestamp": "2021-08-16T06:05:01.123456Z",
                "record-type": kind,
                "operation": op,
                "partition-key-type": "primary-key",
                "schema-name": "shop",
                "table-name": table,
                "transaction-id": 42,
            },
        }
    )


def test_dms_json_records_apply_skip_and_quarantine(spark: SparkSession, tmp_path: Path) -> None:
    landing = folder(tmp_path)
    lines = [
        record("load", {"id": 1, "item": "pen", "qty": 1, "placed": "2021-01-05"}),
        record("load", {"id": 2, "item": "ink", "qty": 2, "placed": "2021-02-05"}),
        record("insert", {"id": 3, "item": "cap", "qty": 3, "placed": "2021-03-05"}),
        record("update", {"id": 1, "item": "pen", "qty": 9, "placed": "2021-05-05"}),
        record("delete", {"id": 2}),
        record("create-table", {}, kind="control"),
        record("insert", {"id": 7, "item": "other"}, table="customers"),
        '{"data": {"id": 8, "item": "trunc',
        record("insert", {"id": 9, "item": "bad", "qty": "many", "placed": "2021-01-01"}),
    ]
    (landing / "20210816-060501000.json").write_text("\n".join(lines) + "\n")

    outcome = run(spark, job(tmp_path, "dms-json"), once=True)

    assert not outcome.errors
    assert lake(tmp_path) == {(1, "pen", 9, "2021-05-05", 5), (3, "cap", 3, "2021-03-05", 3)}
    summary = outcome.tables[0]
    assert (summary.quarantined, summary.skipped) == (2, 2)
    reasons = sorted(
        json.loads(line)["reason"]
        for f in (tmp_path / "quarantine" / "orders").rglob("*.json")
        for line in f.read_text().splitlines()
    )
    assert reasons == ["column qty: not a valid int", "malformed JSON record"]


def test_every_batch_logs_one_line_of_counts_and_times(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    landing = folder(tmp_path)
    lines = [record("load", {"id": 1, "item": "pen", "qty": 1, "placed": "2021-01-05"})]
    lines += [record("update", {"id": 1, "item": "secret-item", "qty": 9, "placed": "2021-01-05"})]
    lines += ["{not json"]
    (landing / "batch-1.json").write_text("\n".join(lines) + "\n", encoding="utf-8")

    with caplog.at_level(logging.INFO, logger="stream_cdc"):
        outcome = run(spark, job(tmp_path, "dms-json"), once=True)

    assert not outcome.errors
    batches = [
        json.loads(r.getMessage()) for r in caplog.records if '"event": "batch"' in r.getMessage()
    ]
    assert len(batches) == outcome.tables[0].batches == 1
    (line,) = batches
    assert (line["query"], line["table"]) == ("formats.source", "orders")  # one query a source
    assert line["read"] == {"L": 1, "U": 1}
    assert line["quarantined"] == 1
    assert line["upserts"] == 1
    assert line["duration_s"] > 0
    assert line["max_latency_s"] is not None and line["max_latency_s"] >= line["min_latency_s"]
    assert line["source"]["input_rows"] == 3, "Spark's progress of the same batch"
    whole = line["source_batch"]  # what the source batch cost, all of its tables
    assert whole["spark_jobs"] > 0
    phases = [whole[p] for p in ("route_s", "decode_s", "quarantine_s", "apply_s")]
    assert whole["quarantine_s"] > 0 and whole["apply_s"] > 0
    assert sum(phases) <= whole["total_s"] + 0.01
    assert "secret-item" not in caplog.text and "pen" not in caplog.text

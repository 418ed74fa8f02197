"""DMS Parquet files describe their tables, through the real streaming query, in-process:
no catalog and no declared columns, only each table's name, schema and keys.

The files are written with pyarrow in the shape DMS writes them (`dataFormat=parquet`):
full-load files `LOAD*.parquet` without `Op`, CDC files named by time with `Op` first,
and `TimestampColumnName`'s text column of the commit time last.
"""

from __future__ import annotations

import itertools
import os
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from config import JobConfig
from runtime.runner import run

COMMIT = "dms_commit"  # the endpoint's TimestampColumnName


def job(tmp_path: Path) -> JobConfig:
    return JobConfig.model_validate(
        {
            "name": "shop",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": {
                "path": str(tmp_path / "landing"),
                "format": "dms-parquet",
                "timestamp_column": COMMIT,
                "max_files_per_trigger": 1,  # a batch per file, oldest first
            },
            "tables": [
                {"name": "orders", "source_schema": "shop", "keys": ["id"]},
                {"name": "refunds", "source_schema": "shop", "keys": ["order_id", "line"]},
            ],
            "target": {"path": str(tmp_path / "lake")},
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )


def land(tmp_path: Path, table: str, name: str, columns: dict[str, Any]) -> None:
    """A file, newer than every file landed before it (the stream reads oldest first)."""
    folder = tmp_path / "landing" / "shop" / table
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), folder / name)
    now = time.time() + next(_LANDED)
    os.utime(folder / name, (now, now))


_LANDED = itertools.count(1)  # seconds added to each file's modification time


def lake(tmp_path: Path, table: str) -> pa.Table:
    return pads.dataset(str(tmp_path / "lake" / table), format="parquet").to_table()


def spark_types(spark: SparkSession, tmp_path: Path, table: str) -> dict[str, str]:
    """The target table's columns and their Spark types, as Spark reads the lake."""
    schema = spark.read.parquet(str(tmp_path / "lake" / table)).schema
    return {f.name: f.dataType.simpleString() for f in schema}


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: tuple(r.values()))


ORDERS = {
    "id": pa.array([1, 2], pa.int64()),
    "amount": pa.array(["12345678901234567890.123456789", "1.5"]).cast(pa.decimal128(29, 9)),
    "placed": pa.array([datetime(2021, 5, 5, 10, 0, 0, 1), None], pa.timestamp("us")),
    "paid": pa.array([datetime(2021, 5, 5, 10, 0, 2), None], pa.timestamp("ms", tz="UTC")),
    "day": pa.array(["2021-05-05", "2021-05-06"]).cast(pa.date32()),
    "rating": pa.array([4.5, None], pa.float32()),
    "gift": [True, False],
    "qty": pa.array([3, 200], pa.uint8()),
    "note": ["pen", None],
}


def test_files_describe_two_tables_and_a_new_column_reaches_the_target(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = job(tmp_path)
    land(tmp_path, "orders", "LOAD00000001.parquet", ORDERS)
    land(tmp_path, "refunds", "20210505-100000000.parquet", {
        "Op": ["I", "I", "U"],
        "order_id": pa.array([1, 1, 1], pa.int32()),
        "line": pa.array([1, 2, 1], pa.int16()),
        "refunded": pa.array(["0.10", "0.20", "0.15"]).cast(pa.decimal128(5, 2)),
        COMMIT: ["2021-05-05 10:00:00.000000"] * 3,
    })  # fmt: skip

    outcome = run(spark, config, once=True)

    assert outcome.errors == []
    assert spark_types(spark, tmp_path, "orders") == {
        "id": "bigint",
        "amount": "decimal(29,9)",
        "placed": "timestamp",
        "paid": "timestamp",
        "day": "date",
        "rating": "float",
        "gift": "boolean",
        "qty": "smallint",  # unsigned: widened, as information_schema's would be
        "note": "string",
    }
    orders = lake(tmp_path, "orders")
    first = rows(orders)[0]
    assert first["amount"] == Decimal("12345678901234567890.123456789")
    assert str(first["placed"]) == "2021-05-05 10:00:00.000001"
    assert str(first["paid"]) == "2021-05-05 10:00:02"
    assert [(r["id"], r["qty"]) for r in rows(orders)] == [(1, 3), (2, 200)]
    assert spark_types(spark, tmp_path, "refunds") == {  # no DMS column: not the table's
        "order_id": "int",
        "line": "smallint",
        "refunded": "decimal(5,2)",
    }
    assert rows(lake(tmp_path, "refunds")) == [
        {"order_id": 1, "line": 1, "refunded": Decimal("0.15")},
        {"order_id": 1, "line": 2, "refunded": Decimal("0.20")},
    ]

    # The source adds a column while the job runs: the second batch of the run has it.
    land(tmp_path, "orders", "20210506-080000000.parquet", {
        "Op": ["U"],
        "id": pa.array([2], pa.int64()),
        "amount": pa.array(["1.5"]).cast(pa.decimal128(29, 9)),
        "placed": pa.array([None], pa.timestamp("us")),
        "paid": pa.array([None], pa.timestamp("ms", tz="UTC")),
        "day": pa.array(["2021-05-06"]).cast(pa.date32()),
        "rating": pa.array([None], pa.float32()),
        "gift": [False],
        "qty": pa.array([201], pa.uint8()),
        "note": pa.array([None], pa.string()),
        COMMIT: ["2021-05-06 08:00:00.000000"],
    })  # fmt: skip
    land(tmp_path, "orders", "20210506-090000000.parquet", {
        "Op": ["U", "I"],
        "id": pa.array([1, 3], pa.int64()),
        "amount": pa.array(["2.5", "3.5"]).cast(pa.decimal128(29, 9)),
        "placed": pa.array([None, None], pa.timestamp("us")),
        "paid": pa.array([None, None], pa.timestamp("ms", tz="UTC")),
        "day": pa.array(["2021-05-06", "2021-05-06"]).cast(pa.date32()),
        "rating": pa.array([None, 1.0], pa.float32()),
        "gift": [False, False],
        "qty": pa.array([4, 5], pa.uint8()),
        "note": ["pen", "cap"],
        "coupon": ["SPRING", None],
        COMMIT: ["2021-05-06 09:00:00.000000"] * 2,
    })  # fmt: skip

    outcome = run(spark, config, once=True)

    assert outcome.errors == []
    assert spark_types(spark, tmp_path, "orders")["coupon"] == "string"
    orders = lake(tmp_path, "orders")
    assert [(r["id"], r["qty"], r["coupon"]) for r in rows(orders)] == [
        (1, 4, "SPRING"),
        (2, 201, None),  # written before the column existed: reads NULL
        (3, 5, None),
    ]


def test_a_table_with_its_own_landing_folder_is_described_by_its_files(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Its query starts before its first file described it (one query per such folder)."""
    elsewhere = tmp_path / "audit"
    elsewhere.mkdir()
    (tmp_path / "landing").mkdir()
    config = JobConfig.model_validate(
        {
            "name": "ops",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": {"path": str(tmp_path / "landing"), "format": "dms-parquet"},
            "tables": [
                {"name": "audit", "source_schema": "ops", "keys": ["id"], "path": str(elsewhere)}
            ],
            "target": {"path": str(tmp_path / "lake")},
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )
    pq.write_table(
        pa.table(
            {"id": pa.array([7], pa.int32()), "at": pa.array(["2021-05-05"]).cast(pa.date32())}
        ),
        elsewhere / "LOAD00000001.parquet",
    )

    outcome = run(spark, config, once=True)

    assert outcome.errors == []
    assert spark_types(spark, tmp_path, "audit") == {"id": "int", "at": "date"}
    assert [(r["id"], str(r["at"])) for r in rows(lake(tmp_path, "audit"))] == [(7, "2021-05-05")]


def test_a_batch_of_files_from_both_sides_of_a_widening_keeps_every_value(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The source widens INT to BIGINT while the job runs; the next batch holds a file
    written before the widening and one written after (sources/parquet_read.py)."""
    config = job(tmp_path)
    several = config.source.model_copy(update={"max_files_per_trigger": 10})

    def refunds(name: str, ids: pa.Array, ops: list[str]) -> None:
        land(tmp_path, "refunds", name, {
            "Op": ops,
            "order_id": ids,
            "line": pa.array([1] * len(ops), pa.int16()),
            "refunded": pa.array(["0.10"] * len(ops)).cast(pa.decimal128(5, 2)),
            COMMIT: ["2021-05-05 10:00:00.000000"] * len(ops),
        })  # fmt: skip

    refunds("20210505-100000000.parquet", pa.array([1], pa.int32()), ["I"])
    assert run(spark, config, once=True).errors == []
    assert spark_types(spark, tmp_path, "refunds")["order_id"] == "int"

    refunds("20210505-110000000.parquet", pa.array([2**31 - 1], pa.int32()), ["I"])
    refunds("20210505-120000000.parquet", pa.array([2**31 + 7, 1], pa.int64()), ["I", "D"])
    outcome = run(spark, config.model_copy(update={"source": several}), once=True)

    assert outcome.errors == []
    assert spark_types(spark, tmp_path, "refunds")["order_id"] == "bigint"
    assert [r["order_id"] for r in rows(lake(tmp_path, "refunds"))] == [2**31 - 1, 2**31 + 7]

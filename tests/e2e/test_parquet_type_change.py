"""A DMS Parquet file that stores a column in another type than the table's, through the
real streaming query, in-process: its records are quarantined with the reason, nothing
is truncated, and the stream (and every other table) goes on.

Two ways it happens: a table the job follows (columns discovered from the files) whose
source changed a column's type, which stops that table (docs/sources.md, *Schema changes
while running*); and a table that declares its columns, where only that file's records
are quarantined (sources/parquet_read.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from config import JobConfig
from runtime.runner import run


def job(tmp_path: Path, tables: list[dict[str, Any]], files: int = 1000) -> JobConfig:
    source = {"path": str(tmp_path / "landing"), "format": "dms-parquet"}
    return JobConfig.model_validate(
        {
            "name": "shop",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": {**source, "max_files_per_trigger": files},
            "tables": tables,
            "target": {"path": str(tmp_path / "lake")},
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )


def land(tmp_path: Path, table: str, name: str, columns: dict[str, pa.Array], at: int = 0) -> None:
    """A DMS file, modified `at` seconds after the others (the order Spark reads files)."""
    folder = tmp_path / "landing" / "shop" / table
    folder.mkdir(parents=True, exist_ok=True)
    rows = len(next(iter(columns.values())))
    op = {} if name.startswith("LOAD") else {"Op": ["I"] * rows}
    pq.write_table(pa.table({**op, **columns}), folder / name)
    os.utime(folder / name, (1_700_000_000 + at, 1_700_000_000 + at))


def lake(tmp_path: Path, table: str) -> list[dict[str, Any]]:
    found = pads.dataset(str(tmp_path / "lake" / table), format="parquet").to_table()
    return sorted(found.to_pylist(), key=lambda r: int(r["id"]))


def quarantined(tmp_path: Path, table: str) -> list[dict[str, Any]]:
    lines = [
        json.loads(line)
        for part in (tmp_path / "quarantine" / table).rglob("*.json")
        for line in part.read_text().splitlines()
    ]
    return sorted(lines, key=lambda r: str(r["raw_record"]))


def ids(n: list[int]) -> pa.Array:
    return pa.array(n, pa.int64())


def test_a_followed_table_whose_column_became_text_stops_and_keeps_its_records(
    spark: SparkSession, tmp_path: Path
) -> None:
    entries = [{"name": n, "source_schema": "shop", "keys": ["id"]} for n in "tu"]
    config = job(tmp_path, entries, files=2)  # two batches in one run: the job is running
    land(tmp_path, "t", "LOAD00000001.parquet", {"id": ids([1]), "qty": pa.array([4], pa.int32())})
    land(tmp_path, "u", "LOAD00000001.parquet", {"id": ids([1])})
    # Then the source's `qty` becomes text; the other table goes on.
    land(tmp_path, "t", "20210505-100000000.parquet",
         {"id": ids([2]), "qty": pa.array(["7 apples"], pa.string())}, at=60)  # fmt: skip
    land(tmp_path, "u", "20210505-100000000.parquet", {"id": ids([2])}, at=60)

    outcome = run(spark, config, once=True)

    assert outcome.errors == []
    assert lake(tmp_path, "u") == [{"id": 1}, {"id": 2}]
    assert lake(tmp_path, "t") == [{"id": 1, "qty": 4}]
    (record,) = quarantined(tmp_path, "t")
    assert json.loads(record["raw_record"]) == {"Op": "I", "id": 2, "qty": "7 apples"}
    assert record["reason"].startswith(
        "table t stopped: column qty changed type int -> string (not a widening); to resume"
    )


def test_a_declared_table_quarantines_only_the_file_that_does_not_fit(
    spark: SparkSession, tmp_path: Path
) -> None:
    declared = [{"name": "id", "type": "bigint"}, {"name": "qty", "type": "int"}]
    config = job(tmp_path, [{"name": "t", "source_schema": "shop", "keys": ["id"],
                             "columns": declared}])  # fmt: skip
    land(tmp_path, "t", "20210505-100000000.parquet",
         {"id": ids([1]), "qty": pa.array([4], pa.int32())})  # fmt: skip
    land(tmp_path, "t", "20210505-100000001.parquet",
         {"id": ids([2, 3]), "qty": pa.array([2**40, 5], pa.int64())})  # fmt: skip
    land(
        tmp_path,
        "t",
        "20210505-100000002.parquet",
        {"id": ids([4]), "qty": pa.array([6], pa.int16())},
    )  # a widening: read and cast

    outcome = run(spark, config, once=True)

    assert outcome.errors == []
    assert lake(tmp_path, "t") == [{"id": 1, "qty": 4}, {"id": 4, "qty": 6}]
    records = quarantined(tmp_path, "t")
    assert [json.loads(r["raw_record"]) for r in records] == [
        {"Op": "I", "id": 2, "qty": 2**40},  # every digit kept, never truncated to 32 bits
        {"Op": "I", "id": 3, "qty": 5},
    ]
    assert {r["reason"] for r in records} == {
        f"file file://{tmp_path}/landing/shop/t/20210505-100000001.parquet: column qty is "
        "stored as bigint where the table has int (not a widening, never cast: make the "
        "table's type fit, then reprocess the file, docs/operations.md, Reprocessing)"
    }

    # The stream goes on with the next file.
    land(tmp_path, "t", "20210505-100000003.parquet",
         {"id": ids([5]), "qty": pa.array([7], pa.int32())})  # fmt: skip
    assert run(spark, config, once=True).errors == []
    assert [r["id"] for r in lake(tmp_path, "t")] == [1, 4, 5]


def test_a_restart_after_a_type_change_refuses_the_batch_and_leaves_the_lake_as_it_was(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Stopped between the files, the job describes the table anew at its start, from a
    file whose `qty` is text: the lake, which holds `qty` as int, refuses the batch,
    naming the column, rather than writing files whose type disagrees with the table's."""
    config = job(tmp_path, [{"name": "t", "source_schema": "shop", "keys": ["id"]}])
    land(tmp_path, "t", "LOAD00000001.parquet", {"id": ids([1]), "qty": pa.array([4], pa.int32())})
    assert run(spark, config, once=True).errors == []
    land(tmp_path, "t", "20210505-100000000.parquet",
         {"id": ids([2]), "qty": pa.array(["7 apples"], pa.string())}, at=60)  # fmt: skip

    outcome = run(spark, config, once=True)

    (error,) = outcome.errors
    assert (
        f"lake table file:{tmp_path}/lake/t: column qty holds int, the batch brings string" in error
    )
    assert lake(tmp_path, "t") == [{"id": 1, "qty": 4}]

"""A DMS Parquet batch through the job's batch handler (tests/handler.py): the batch's rows
are its files, as the files source gives them, and each table's records are read by a scan
of its own files. No stream: the handler is fed the files it would be given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession

from config import JobConfig
from runtime.batch import SourceBatch
from runtime.routing import tally_records
from sources.files import NotParquetError
from tests.handler import source_handler

COLUMNS = [{"name": "id", "type": "int"}, {"name": "qty", "type": "int"}]


def handler(
    spark: SparkSession, tmp_path: Path, batches: list[SourceBatch], *, declared: bool = True
) -> Any:
    """`declared`: the table's columns in the config, else its files describe it."""
    table: dict[str, Any] = {"name": "orders", "source_schema": "shop", "keys": ["id"]}
    if declared:
        table["columns"] = COLUMNS
    config = JobConfig.model_validate(
        {
            "name": "parquet",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": {"path": str(tmp_path / "landing"), "format": "dms-parquet"},
            "tables": [table],
            "target": {"kind": "lake", "path": str(tmp_path / "lake")},
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )
    return source_handler(spark, config, tmp_path, batches.append, str(tmp_path / "landing"))


def land(tmp_path: Path, relative: str, rows: int, row_group: int | None = None) -> str:
    """A full-load file of `rows` orders at `relative` under the landing root; its URI."""
    path = tmp_path / "landing" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = pa.array(range(rows), pa.int32())
    pq.write_table(pa.table({"id": ids, "qty": ids}), path, row_group_size=row_group)
    return path.as_uri()


def torn(tmp_path: Path, relative: str) -> str:
    """A file named as DMS names a CDC file whose content is not Parquet (cut short)."""
    path = tmp_path / "landing" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PAR1 cut short")
    return path.as_uri()


def quarantined(tmp_path: Path, table: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for part in sorted((tmp_path / "quarantine" / table).rglob("part-*.json"))
        for line in part.read_text().splitlines()
    ]


def lake_ids(tmp_path: Path) -> list[int]:
    lake = pads.dataset(str(tmp_path / "lake" / "orders"), format="parquet").to_table()
    return sorted(lake.column("id").to_pylist())


def files(spark: SparkSession, uris: list[str]) -> DataFrame:
    """The batch as the files source gives it: one row a file."""
    return spark.createDataFrame([(u,) for u in uris], "_file string")


def test_a_tables_rows_are_decoded_in_as_many_tasks_as_its_files_splits(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The routing counts a Parquet batch's files, not its rows: its records were compacted
    by that count into one partition, so a table's full load was decoded by one task."""
    partitions: list[int] = []

    def tallied(
        records: dict[str, DataFrame], parallel: int = 1, shared: DataFrame | None = None
    ) -> Any:
        partitions.extend(frame.rdd.getNumPartitions() for frame in records.values())
        return tally_records(records, parallel, shared)

    monkeypatch.setattr("runtime.batch.tally_records", tallied)
    uri = land(tmp_path, "shop/orders/LOAD00000001.parquet", 40_000, row_group=10_000)
    size = Path(uri.removeprefix("file://")).stat().st_size
    saved = str(spark.conf.get("spark.sql.files.maxPartitionBytes"))
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(size // 4))  # a split a row group
    batches: list[SourceBatch] = []
    try:
        handler(spark, tmp_path, batches)(files(spark, [uri]), 0)
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", saved)

    assert partitions and partitions[0] > 1
    (table,) = batches[0].tables
    assert table.read_by_op == {"L": 40_000}
    lake = pads.dataset(str(tmp_path / "lake" / "orders"), format="parquet").to_table()
    assert lake.num_rows == 40_000


def test_a_file_outside_every_tables_folder_is_quarantined_and_the_batch_goes_on(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A Parquet file with no `<schema>/<table>/` folder of its own stopped the stream (its
    quarantine entry asked for a line of text the file rows do not have)."""
    good = land(tmp_path, "shop/orders/LOAD00000001.parquet", 3)
    stray = land(tmp_path, "shop/stray.parquet", 2)
    batches: list[SourceBatch] = []

    handler(spark, tmp_path, batches)(files(spark, [good, stray]), 0)

    assert batches[0].unrouted == 1
    assert batches[0].tables[0].read_by_op == {"L": 3}
    assert lake_ids(tmp_path) == [0, 1, 2]
    entries = quarantined(tmp_path, "_unrouted")
    assert [(e["source_file"], e.get("raw_record")) for e in entries] == [(stray, None)]
    assert "in no table's folder (<schema>/<table>/" in entries[0]["reason"]


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "described by files"])
def test_a_file_that_is_not_parquet_is_quarantined_naming_it_and_the_batch_goes_on(
    spark: SparkSession, tmp_path: Path, declared: bool
) -> None:
    """An empty, cut-short or foreign file among a table's Parquet files stopped the stream
    with the Parquet reader's message, which named no file. Its records cannot be read:
    one quarantine entry names it; the table's other files are applied."""
    batches: list[SourceBatch] = []
    apply = handler(spark, tmp_path, batches, declared=declared)
    apply(files(spark, [land(tmp_path, "shop/orders/LOAD00000001.parquet", 3)]), 0)
    bad = torn(tmp_path, "shop/orders/20210505-100000001.parquet")

    apply(files(spark, [bad]), 1)
    apply(files(spark, [land(tmp_path, "shop/orders/LOAD00000002.parquet", 5)]), 2)

    assert batches[1].tables[0].quarantined == 1
    (entry,) = quarantined(tmp_path, "orders")
    assert entry["source_file"] == bad
    assert entry["reason"].startswith(f"file {bad}: not a readable Parquet file (")
    assert lake_ids(tmp_path) == [0, 1, 2, 3, 4]


def test_a_table_its_newest_file_would_describe_stops_the_batch_naming_the_file(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A table not described yet takes its columns from its newest file: when that file is
    not Parquet, the batch fails, naming the file and what to do, rather than leaving the
    table unreplicated for the rest of the run."""
    good = land(tmp_path, "shop/orders/LOAD00000001.parquet", 3)
    bad = torn(tmp_path, "shop/orders/20210505-100000001.parquet")

    with pytest.raises(NotParquetError, match=r"the newest of table shop\.orders") as raised:
        handler(spark, tmp_path, [], declared=False)(files(spark, [good, bad]), 0)

    assert bad in str(raised.value) and "replace it or move it out" in str(raised.value)

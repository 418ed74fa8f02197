"""A stream's batch counts the tables its last batch touched in the routing's own Spark job
(runtime/routing.py): their records are decoded ahead, and the guess is checked against
what the routing finds. Kafka (Debezium, schemas enabled) records shaped as the reader
gives them go through the job's batch handler, batch after batch, into the lake: no broker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest
from pyspark.sql import DataFrame, SparkSession

from config import JobConfig
from runtime.batch import SourceBatch
from runtime.routing import route_and_tally, tally_records
from tests.debezium import envelope_schema
from tests.handler import source_handler

INT64 = {"type": "int64", "optional": False, "field": "id"}
TABLES = ("orders", "users")


def message(table: str, pos: int, row: dict[str, Any]) -> tuple[str, str, str, int, int]:
    fields = [{"type": "string", "optional": True, "field": f} for f in row if f != "id"]
    source = {"db": "shop", "table": table, "file": "mysql-bin.000001", "pos": pos, "row": 0,
              "snapshot": "false", "ts_ms": 1_700_000_000_000 + pos}  # fmt: skip
    payload = {"before": None, "after": row, "source": source, "op": "c"}
    key = {"schema": {"type": "struct", "fields": [INT64], "optional": False, "name": "k"},
           "payload": {"id": row["id"]}}  # fmt: skip
    value = {"schema": envelope_schema(f"cdc.shop.{table}", [INT64, *fields]), "payload": payload}
    return json.dumps(key), json.dumps(value), f"cdc.shop.{table}", 0, pos


class Stream:
    """The job's handler for one Kafka source, fed batch after batch."""

    def __init__(self, spark: SparkSession, tmp_path: Path) -> None:
        self.spark, self.lake = spark, tmp_path / "lake"
        config = JobConfig.model_validate(
            {
                "name": "guess",
                "checkpoint": str(tmp_path / "checkpoint"),
                "source": {"kind": "kafka", "bootstrap_servers": "-", "topic_prefix": "cdc"},
                "tables": [{"name": t, "source_schema": "shop", "keys": ["id"]} for t in TABLES],
                "target": {"kind": "lake", "path": str(self.lake)},
                "quarantine": {"path": str(tmp_path / "quarantine")},
            }
        )
        self.batches: list[SourceBatch] = []
        self.handler = source_handler(spark, config, tmp_path, self.batches.append)

    def batch(self, messages: list[tuple[str, str, str, int, int]]) -> SourceBatch:
        raw: DataFrame = self.spark.createDataFrame(
            messages, "key string, value string, topic string, partition int, offset long"
        )
        self.handler(raw, len(self.batches))
        return self.batches[-1]

    def rows(self, table: str) -> dict[int, dict[str, Any]]:
        found = pads.dataset(str(self.lake / table), format="parquet").to_table().to_pylist()
        return {r["id"]: {k: v for k, v in r.items() if not k.startswith("_")} for r in found}


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """The tables each batch counted with the routing (`guessed`) and after it (`after`)."""
    asked: dict[str, list[list[str]]] = {"guessed": [], "after": []}

    def guessed(
        seen: DataFrame,
        records: dict[str, DataFrame],
        parallel: int = 1,
        shared: DataFrame | None = None,
    ) -> Any:
        asked["guessed"].append(sorted(records))
        return route_and_tally(seen, records, parallel, shared)

    def after(
        records: dict[str, DataFrame], parallel: int = 1, shared: DataFrame | None = None
    ) -> Any:
        asked["after"].append(sorted(records))
        return tally_records(records, parallel, shared)

    monkeypatch.setattr("runtime.batch.route_and_tally", guessed)
    monkeypatch.setattr("runtime.batch.tally_records", after)
    return asked


def persisted(spark: SparkSession) -> int:
    return int(spark.sparkContext._jsc.getPersistentRDDs().size())


def test_a_batch_of_the_last_batchs_tables_counts_them_in_the_routings_job(
    spark: SparkSession, tmp_path: Path, counted: dict[str, list[list[str]]]
) -> None:
    stream = Stream(spark, tmp_path)
    stream.batch([message("orders", 1, {"id": 1, "item": "pen"})])
    first = stream.batch([message("orders", 2, {"id": 2, "item": "ink"}),
                          message("orders", 3, {"id": 1, "item": "cap"})])  # fmt: skip

    assert counted == {"guessed": [[], ["orders"]], "after": [["orders"], []]}
    assert first.tables[0].read_by_op == {"I": 2}
    assert stream.rows("orders") == {1: {"id": 1, "item": "cap"}, 2: {"id": 2, "item": "ink"}}

    stream.handler._recent = []  # the same shape of batch without a guess
    second = stream.batch([message("orders", 4, {"id": 3, "item": "mug"}),
                           message("orders", 5, {"id": 2, "item": "pad"})])  # fmt: skip
    assert counted["after"][-1] == ["orders"]
    assert second.spark_jobs == (first.spark_jobs or 0) + 1, "the guess saves one Spark job"
    assert stream.rows("orders")[2] == {"id": 2, "item": "pad"}


def test_a_guess_the_routing_proves_wrong_is_decoded_again_or_let_go(
    spark: SparkSession, tmp_path: Path, counted: dict[str, list[list[str]]]
) -> None:
    stream = Stream(spark, tmp_path)
    stream.batch([message("orders", 1, {"id": 1, "item": "pen"})])
    cached = persisted(spark)

    # A new column: the guess was decoded with the old columns, so the table is decoded
    # and counted again in the columns the routing found.
    altered = stream.batch([message("orders", 2, {"id": 2, "item": "ink", "note": "gift"})])
    assert counted["guessed"][-1] == ["orders"] and counted["after"][-1] == ["orders"]
    assert altered.tables[0].read_by_op == {"I": 1}
    assert stream.rows("orders")[2] == {"id": 2, "item": "ink", "note": "gift"}

    # Another table only: the guessed one is let go, nothing stays cached.
    other = stream.batch([message("users", 3, {"id": 7, "item": "ann"})])
    assert counted["guessed"][-1] == ["orders"] and counted["after"][-1] == ["users"]
    assert [(t.table, t.read_by_op) for t in other.tables] == [("users", {"I": 1})]
    assert stream.rows("users") == {7: {"id": 7, "item": "ann"}}
    assert len(stream.rows("orders")) == 2
    assert persisted(spark) == cached


def test_the_records_kept_for_the_apply_hold_the_raw_record_and_origin_of_rejects_only(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept: list[list[tuple[int | None, str | None, str | None]]] = []

    def tallied(
        records: dict[str, DataFrame], parallel: int = 1, shared: DataFrame | None = None
    ) -> Any:
        for frame in records.values():
            rows = frame.select("id", "_raw", "_source_file").collect()
            kept.append([(r["id"], r["_raw"], r["_source_file"]) for r in rows])
        return tally_records(records, parallel, shared)

    monkeypatch.setattr("runtime.batch.tally_records", tallied)
    stream = Stream(spark, tmp_path)
    key, value, topic, partition, _ = message("orders", 1, {"id": 2, "item": "ink"})
    bad = value.replace('"ink"', '"ink", "broken')  # not JSON: rejected
    # The newest message describes the table (its schema): the good one.
    batch = stream.batch([(key, bad, topic, partition, 1),
                          message("orders", 2, {"id": 1, "item": "pen"})])  # fmt: skip

    assert batch.tables[0].quarantined == 1 and batch.tables[0].read_by_op == {"I": 1}
    origin = f"{topic}/{partition}/1"
    assert [sorted(rows, key=str) for rows in kept] == [[(1, None, None), (None, bad, origin)]]
    entries = pads.dataset(str(tmp_path / "quarantine" / "orders"), format="json").to_table()
    assert entries.column("raw_record").to_pylist() == [bad]
    assert entries.column("source_file").to_pylist() == [origin]
    assert stream.rows("orders") == {1: {"id": 1, "item": "pen"}}

"""Quarantine replay of stream sources, in process: a batch of Kafka (Debezium) or Kinesis
(DMS JSON) records, shaped as their readers give them, goes through the job's own batch
handler (routing, decoding, the quarantine writer, the engine); the operator corrects the
quarantined entries in a file and `replay` applies them where they arrived.

No broker or stream is needed: a replay reads the quarantine, never the stream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config import JobConfig
from runtime.replay import Selection, replay
from sources.kinesis import kinesis_position
from tests.debezium import envelope_schema
from tests.handler import source_handler

COLUMNS = [
    {"name": "id", "type": "bigint"},
    {"name": "item", "type": "string"},
    {"name": "qty", "type": "int"},
]


def job(tmp_path: Path, source: dict[str, Any], **table: Any) -> JobConfig:
    return JobConfig.model_validate(
        {
            "name": "replay_streams",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": source,
            "tables": [{"name": "orders", "source_schema": "shop", **table}],
            "target": {"kind": "lake", "path": str(tmp_path / "lake")},
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )


def ingest(spark: SparkSession, config: JobConfig, raw: DataFrame, tmp_path: Path) -> None:
    """One micro-batch through the job's handler, as the source's query would call it."""
    source_handler(spark, config, tmp_path)(raw, 0)


def rows(tmp_path: Path) -> set[tuple[Any, ...]]:
    table = pads.dataset(str(tmp_path / "lake" / "orders"), format="parquet").to_table()
    return {(r["id"], r["item"], r["qty"]) for r in table.to_pylist()}


def correct(tmp_path: Path, fixes: dict[str, str], **fields: Any) -> tuple[Path, list[Any]]:
    """The quarantined entries with `raw_record` corrected, as an operator's file."""
    entries = [
        json.loads(line)
        for f in sorted((tmp_path / "quarantine" / "orders").rglob("*.json"))
        for line in f.read_text().splitlines()
    ]
    corrected = tmp_path / f"corrected-{len(list(tmp_path.glob('corrected-*')))}.jsonl"
    with corrected.open("w") as out:
        for entry in entries:
            for bad, good in fixes.items():
                entry["raw_record"] = entry["raw_record"].replace(bad, good)
            out.write(json.dumps({**entry, **fields}) + "\n")
    return corrected, entries


FIELDS = [
    {"type": "int64", "optional": False, "field": "id"},
    {"type": "string", "optional": True, "field": "item"},
    {"type": "int32", "optional": True, "field": "qty"},
]
ENVELOPE = envelope_schema("cdc.shop.orders", FIELDS)


def debezium(op: str, pos: int, before: Any, after: Any) -> str:
    """A Debezium event as Kafka Connect's JSON converter writes it (schemas enabled)."""
    source = {
        "db": "shop",
        "table": "orders",
        "file": "mysql-bin.000003",
        "pos": pos,
        "row": 0,
        "snapshot": "false",
        "ts_ms": 1_700_000_000_000 + pos,
    }
    payload = {"before": before, "after": after, "source": source, "op": op}
    return json.dumps({"schema": ENVELOPE, "payload": payload})


def key(id_: int) -> str:
    schema = {"type": "struct", "fields": FIELDS[:1], "optional": False, "name": "cdc.Key"}
    return json.dumps({"schema": schema, "payload": {"id": id_}})


def test_kafka_records_replay_at_their_binlog_position_with_their_key(
    spark: SparkSession, tmp_path: Path
) -> None:
    # No catalog and no columns: the events describe the table's columns (the replay too).
    source = {"kind": "kafka", "bootstrap_servers": "nowhere:9092", "topic_prefix": "cdc"}
    config = job(tmp_path, source, keys=["id"])
    truncated_delete = debezium("d", 400, None, None)[:-9]  # poison: not JSON any more
    messages = [
        (key(1), debezium("c", 100, None, {"id": 1, "item": "pen", "qty": 1})),
        (key(2), debezium("c", 200, None, {"id": 2, "item": "ink", "qty": 2})),
        (key(1), debezium("u", 300, None, {"id": 1, "item": "pen", "qty": "many"})),
        (key(2), truncated_delete),  # a delete without `before`: the key names the row
        (key(3), debezium("c", 500, None, {"id": 3, "item": "cap", "qty": "three"})),
        (key(3), debezium("u", 600, None, {"id": 3, "item": "cap", "qty": 30})),
    ]
    raw = spark.createDataFrame(
        [(k, v, "cdc.shop.orders", 0, i) for i, (k, v) in enumerate(messages)],
        "key string, value string, topic string, partition int, offset long",
    )
    ingest(spark, config, raw, tmp_path)
    assert rows(tmp_path) == {(1, "pen", 1), (2, "ink", 2), (3, "cap", 30)}

    fixes = {'"many"': "9", '"three"': "3", truncated_delete: debezium("d", 400, None, None)}
    corrected, entries = correct(tmp_path, fixes)
    assert sorted(e["source_file"] for e in entries) == [
        f"cdc.shop.orders/0/{i}" for i in (2, 3, 4)
    ]
    assert {e["record_key"] for e in entries} == {key(1), key(2), key(3)}

    # An entry written before keys were kept: the delete cannot name its row.
    keyless, _ = correct(tmp_path, fixes, record_key=None)
    dry = replay(spark, config, Selection(file=str(keyless)), dry_run=True)
    assert dry.tables[0].rejected == {"Debezium delete event without before or key": 1}

    report = replay(spark, config, Selection(file=str(corrected)))

    (orders,) = report.tables
    assert (orders.selected, orders.upserts, orders.deletes, orders.rejected) == (3, 1, 1, {})
    assert orders.stale == 1, "key 3's correction is older than its update at offset 5"
    assert rows(tmp_path) == {(1, "pen", 9), (3, "cap", 30)}


def dms(op: str, data: dict[str, Any]) -> str:
    metadata = {"record-type": "data", "operation": op, "schema-name": "shop"}
    return json.dumps({"data": data, "metadata": {**metadata, "table-name": "orders"}})


def test_kinesis_records_replay_at_their_sequence_number(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = job(tmp_path, {"kind": "kinesis", "stream": "cdc"}, keys=["id"], columns=COLUMNS)
    truncated = dms("insert", {"id": 2, "item": "ink", "qty": 2})[:-5]
    records = [
        ("100", dms("insert", {"id": 1, "item": "pen", "qty": 1})),
        ("200", dms("update", {"id": 1, "item": "pen", "qty": "many"})),
        ("300", truncated),  # routed by its partition key, then quarantined
        ("400", dms("insert", {"id": 3, "item": "cap", "qty": "three"})),
        ("1000", dms("update", {"id": 3, "item": "cap", "qty": 30})),
    ]
    raw = spark.createDataFrame(
        [(v, "kinesis:cdc/shop.orders", s) for s, v in records],
        "value string, _file string, seq string",
    ).select("value", "_file", kinesis_position(F.col("seq")).alias("_kpos"))
    ingest(spark, config, raw, tmp_path)
    assert rows(tmp_path) == {(1, "pen", 1), (3, "cap", 30)}

    fixes = {
        '"many"': "9",
        '"three"': "3",
        truncated: dms("insert", {"id": 2, "item": "ink", "qty": 2}),
    }
    corrected, entries = correct(tmp_path, fixes)
    assert {e["source_file"] for e in entries} == {"kinesis:cdc/shop.orders"}
    assert all(e["position"] and e.get("record_key") is None for e in entries)

    report = replay(spark, config, Selection(file=str(corrected)))

    (orders,) = report.tables
    assert (orders.selected, orders.upserts, orders.deletes, orders.rejected) == (3, 2, 0, {})
    assert orders.stale == 1, "key 3's correction (sequence 400) is older than 1000's update"
    assert rows(tmp_path) == {(1, "pen", 9), (2, "ink", 2), (3, "cap", 30)}

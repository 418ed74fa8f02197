"""The DMS -> Kinesis stand-in: Debezium events become DMS records, put in order."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from simulators.dms_forwarder import _ensure_stream, dms_record, forward


def event(op: str, before: Any = None, after: Any = None, **source: Any) -> dict[str, Any]:
    src = {"db": "sports", "table": "customer", "ts_ms": 1764000000123, "file": "bin.000003"}
    return {
        "before": before,
        "after": after,
        "op": op,
        "ts_ms": 1764000000456,
        "source": {**src, **source},
    }


def test_debezium_operations_become_dms_operations_with_transaction_details() -> None:
    snapshot = dms_record(event("r", after={"id": 1}))
    insert = dms_record(event("c", after={"id": 2}, pos=120, row=1))
    update = dms_record(event("u", before={"id": 2, "n": "a"}, after={"id": 2, "n": "b"}))
    delete = dms_record(event("d", before={"id": 1}))

    assert snapshot is not None and snapshot[1]["metadata"]["operation"] == "load"
    assert insert == (
        "sports.customer",
        {
            "data": {"id": 2},
            "metadata": {
                "timestamp": "2025-11-24T16:00:00.456000Z",
                "record-type": "data",
                "operation": "insert",
                "partition-key-type": "schema-table",
                "schema-name": "sports",
                "table-name": "customer",
                "commit-timestamp": "2025-11-24T16:00:00.123000Z",
                "stream-position": "bin.000003:120:1",
            },
        },
    )
    assert update is not None and update[1]["before-image"] == {"id": 2, "n": "a"}
    assert update[1]["data"] == {"id": 2, "n": "b"}
    assert delete is not None and delete[1]["data"] == {"id": 1}
    assert delete[1]["metadata"]["operation"] == "delete"


def test_events_without_a_row_change_are_not_forwarded() -> None:
    assert dms_record({"source": {"db": "sports"}, "ddl": "ALTER TABLE x"}) is None
    assert dms_record(event("t")) is None  # truncate: DMS sends no data record for it


def test_schema_envelope_is_unwrapped() -> None:
    wrapped = {"schema": {"type": "struct"}, "payload": event("c", after={"id": 9})}

    record = dms_record(wrapped)

    assert record is not None and record[1]["data"] == {"id": 9}


def test_forwarded_records_arrive_in_order_per_key_across_put_calls(kinesis_endpoint: str) -> None:
    kinesis = boto3.client("kinesis", endpoint_url=kinesis_endpoint)
    _ensure_stream(kinesis, "forwarded", shards=2)
    records = [
        (f"sports.t{i % 3}", {"data": {"id": i}, "metadata": {"table-name": f"t{i % 3}"}})
        for i in range(1200)
    ]

    sent = forward(records, kinesis, "forwarded")

    got: dict[str, list[int]] = {}
    for shard in kinesis.list_shards(StreamName="forwarded")["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName="forwarded", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        deadline = time.monotonic() + 30
        while iterator and time.monotonic() < deadline:
            page = kinesis.get_records(ShardIterator=iterator, Limit=1000)
            for r in page["Records"]:
                got.setdefault(r["PartitionKey"], []).append(json.loads(r["Data"])["data"]["id"])
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            iterator = page.get("NextShardIterator")
    assert sent == 1200
    for k in range(3):
        assert got[f"sports.t{k}"] == [i for i in range(1200) if i % 3 == k]


def test_messages_that_are_not_debezium_events_are_skipped() -> None:
    assert dms_record({"payload": "text", "schema": {}}) is None
    assert dms_record({"op": "c", "source": "sports.customer"}) is None
    assert dms_record({"op": "x", "source": {"db": "sports", "table": "customer"}}) is None

"""A local stand-in for DMS -> Kinesis: Debezium change events from Kafka, forwarded to a
Kinesis stream as DMS-format records, so the seed pipeline (MariaDB -> Kinesis -> Spark
-> PostgreSQL) runs on this machine with the Kinesis source.

    python -m simulators.dms_forwarder --stream cdc --endpoint-url http://127.0.0.1:4568

Each event becomes what DMS writes with IncludeTransactionDetails and a before image:
operation load/insert/update/delete, `data` (the row after, or before for a delete),
`before-image` for updates, commit timestamp and binlog position in `metadata`, partition
key <schema>.<table> (DMS partition-key-type schema-table). Field values are passed as
Debezium encodes them (see conf/sports.yaml for how to declare them). Tombstones and
schema-change events carry no row change: they are not forwarded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from aws import client, wait_for_stream
from config import AwsConfig

log = logging.getLogger("dms_forwarder")

_OPERATIONS = {"r": "load", "c": "insert", "u": "update", "d": "delete"}
_PUT_BATCH = 500  # PutRecords takes at most 500 records per call


def _iso(millis: Any) -> str:
    return datetime.fromtimestamp(int(millis) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dms_record(event: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(partition key, DMS record) for one Debezium event value; None if not a row change."""
    payload = event.get("payload", event) if "schema" in event else event
    source = payload.get("source") if isinstance(payload, dict) else None
    if not isinstance(source, dict) or not source.get("table"):
        return None
    operation = _OPERATIONS.get(str(payload.get("op")))
    if operation is None:
        return None
    schema, table = str(source.get("db", "")), str(source["table"])
    row = payload.get("before") if operation == "delete" else payload.get("after")
    committed = _iso(source.get("ts_ms") or payload.get("ts_ms") or 0)
    metadata = {
        "timestamp": _iso(payload.get("ts_ms") or source.get("ts_ms") or 0),
        "record-type": "data",
        "operation": operation,
        "partition-key-type": "schema-table",
        "schema-name": schema,
        "table-name": table,
        "commit-timestamp": committed,
        "stream-position": ":".join(str(source.get(name, "")) for name in ("file", "pos", "row")),
    }
    record: dict[str, Any] = {"data": row, "metadata": metadata}
    if operation == "update" and payload.get("before") is not None:
        record["before-image"] = payload["before"]
    return f"{schema}.{table}", record


def forward(records: Iterable[tuple[str, dict[str, Any]]], kinesis: Any, stream: str) -> int:
    """Put records in order, in PutRecords calls of up to 500; retry failed entries.

    One key's records keep their order: they share a partition key (one shard), and a
    failed entry is retried before any later call.
    """
    sent = 0
    batch: list[dict[str, Any]] = []
    for key, record in records:
        batch.append({"PartitionKey": key, "Data": json.dumps(record).encode()})
        if len(batch) == _PUT_BATCH:
            sent += _put(kinesis, stream, batch)
            batch = []
    if batch:
        sent += _put(kinesis, stream, batch)
    return sent


def _put(kinesis: Any, stream: str, entries: list[dict[str, Any]], attempts: int = 10) -> int:
    pending = entries
    for attempt in range(attempts):
        answer = kinesis.put_records(StreamName=stream, Records=pending)
        if not answer.get("FailedRecordCount"):
            return len(entries)
        # Keep the failed ones and everything after the first failure, in order.
        first = next(i for i, r in enumerate(answer["Records"]) if "ErrorCode" in r)
        pending = pending[first:]
        time.sleep(min(0.1 * 2**attempt, 2.0))
    raise RuntimeError(f"Kinesis refused {len(pending)} records {attempts} times")


def _events(consumer: Any, idle_s: float, deadline: float) -> Iterator[dict[str, Any]]:
    """Event values until `idle_s` without one or the deadline; undecodable ones counted."""
    idle_since = time.monotonic()
    undecodable = 0
    while time.monotonic() < deadline and time.monotonic() - idle_since < idle_s:
        polled = consumer.poll(timeout_ms=1000)
        for messages in polled.values():
            for message in messages:
                idle_since = time.monotonic()
                event = _decoded(message.value)
                if event is None:
                    undecodable += 1 if message.value else 0
                else:
                    yield event
    if undecodable:
        log.warning("skipped %d messages that are not Debezium JSON events", undecodable)


def _decoded(value: bytes | None) -> dict[str, Any] | None:
    if not value:
        return None  # a tombstone
    try:
        event = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return event if isinstance(event, dict) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.dms_forwarder",
        description="Forward Debezium change events from Kafka to Kinesis as DMS records.",
    )
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--topic-prefix", default="sports", help="Debezium's topic.prefix")
    parser.add_argument("--stream", required=True, help="Kinesis stream (created if missing)")
    parser.add_argument("--shards", type=int, default=2, help="shards of a created stream")
    parser.add_argument("--endpoint-url", help="Kinesis endpoint, e.g. http://127.0.0.1:4568")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--idle-exit", type=float, default=30, help="stop after N s without events")
    parser.add_argument("--max-duration", type=float, default=3600, help="stop after N s at most")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    from kafka import KafkaConsumer

    where = AwsConfig(region=args.region)
    if args.endpoint_url:
        where = AwsConfig(region=args.region, endpoints={"kinesis": args.endpoint_url})
    kinesis = client("kinesis", where)
    _ensure_stream(kinesis, args.stream, args.shards)
    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap_servers,
        group_id=f"dms-forwarder-{args.stream}",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    consumer.subscribe(pattern=f"^{args.topic_prefix}\\.[^.]+\\.[^.]+$")
    deadline = time.monotonic() + args.max_duration
    try:
        events = _events(consumer, args.idle_exit, deadline)
        sent = forward((r for r in map(dms_record, events) if r is not None), kinesis, args.stream)
    finally:
        consumer.close()
    log.info("forwarded %d DMS records to stream %s", sent, args.stream)
    return 0


def _ensure_stream(kinesis: Any, stream: str, shards: int, timeout_s: float = 60) -> None:
    with contextlib.suppress(kinesis.exceptions.ResourceInUseException):
        kinesis.create_stream(StreamName=stream, ShardCount=shards)
    wait_for_stream(kinesis, stream, timeout_s)


if __name__ == "__main__":
    sys.exit(main())

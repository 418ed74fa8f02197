"""A local stand-in for DMS -> Kinesis: Debezium change events from Kafka, forwarded to a
Kinesis stream as DMS-format records, so the seed pipeline (MariaDB -> Kinesis -> Spark
-> PostgreSQL) runs on this machine with the Kinesis source.

    python -m simulators.dms_forwarder --stream cdc --endpoint-url http://127.0.0.1:4568

Each event becomes what DMS writes with IncludeTransactionDetails and a before image:
operation load/insert/update/delete, `data` (the row after, or before for a delete),
`before-image` for updates, commit timestamp and binlog position in `metadata`, partition
key <schema>.<table> (DMS partition-key-type schema-table). Values are written as DMS
writes them, from the column types the source's catalog gives (`--source-host`...):
dates and times as text in UTC, decimals as JSON numbers with every digit. Tombstones and
schema-change events carry no row change: they are not forwarded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aws import client, wait_for_stream
from config import AwsConfig
from transforms.types import DatabaseColumn, time_text

log = logging.getLogger("dms_forwarder")

_OPERATIONS = {"r": "load", "c": "insert", "u": "update", "d": "delete"}
_PUT_BATCH = 500  # PutRecords takes at most 500 records per call


def _iso(millis: Any) -> str:
    return datetime.fromtimestamp(int(millis) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


Columns = Callable[[str, str], dict[str, DatabaseColumn]]
_NUMBER = "\u0000number:"  # marks a decimal to be written as a bare JSON number


def dms_value(value: Any, column: DatabaseColumn | None) -> Any:
    """A Debezium JSON value (`adaptive_time_microseconds`, decimals as text) as DMS
    writes the same column; unknown columns, other types and values that are not what
    the type says (poison) pass unchanged."""
    if value is None or column is None:
        return value
    try:
        return _dms_value(value, column)
    except (ValueError, TypeError, OverflowError):
        return value


def _dms_value(value: Any, column: DatabaseColumn) -> Any:
    kind = column.data_type.lower()
    if kind == "date":
        return (date(1970, 1, 1) + timedelta(days=int(value))).isoformat()
    if kind == "datetime":
        micros = int(value) * (1 if (column.precision or 0) > 3 else 1000)
        moment = datetime(1970, 1, 1) + timedelta(microseconds=micros)
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    if kind == "timestamp":
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    if kind == "time":
        return time_text(int(value))
    if kind in ("decimal", "numeric"):
        return f"{_NUMBER}{value}"
    return value


def dms_json(record: dict[str, Any]) -> str:
    """The record as JSON, decimals as bare numbers (as DMS writes them)."""
    text = json.dumps(record)
    return re.sub(r'"\\u0000number:(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)"', r"\1", text)


def dms_record(
    event: dict[str, Any], columns: Columns | None = None
) -> tuple[str, dict[str, Any]] | None:
    """(partition key, DMS record) for one Debezium event value; None if not a row change.

    `columns` gives a table's columns by (schema, table), to write values as DMS does;
    without it they pass as Debezium wrote them."""
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
    known = columns(schema, table) if columns is not None else {}
    record: dict[str, Any] = {"data": _converted(row, known), "metadata": metadata}
    if operation == "update" and payload.get("before") is not None:
        record["before-image"] = _converted(payload["before"], known)
    return f"{schema}.{table}", record


def _converted(row: Any, columns: dict[str, DatabaseColumn]) -> Any:
    if not isinstance(row, dict) or not columns:
        return row
    return {name: dms_value(value, columns.get(name)) for name, value in row.items()}


def forward(records: Iterable[tuple[str, dict[str, Any]]], kinesis: Any, stream: str) -> int:
    """Put records in order, in PutRecords calls of up to 500; retry failed entries.

    One key's records keep their order: they share a partition key (one shard), and a
    failed entry is retried before any later call.
    """
    sent = 0
    batch: list[dict[str, Any]] = []
    for key, record in records:
        batch.append({"PartitionKey": key, "Data": dms_json(record).encode()})
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
    parser.add_argument(
        "--source-host",
        help="the captured database (password in SOURCE_PASSWORD): its column types make the "
        "values DMS-like; without it they pass as Debezium wrote them",
    )
    parser.add_argument("--source-port", type=int, default=3306)
    parser.add_argument("--source-user", default="cdc")
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
        columns = _catalog_columns(args) if args.source_host else None
        records = (dms_record(event, columns) for event in events)
        sent = forward((r for r in records if r is not None), kinesis, args.stream)
    finally:
        consumer.close()
    log.info("forwarded %d DMS records to stream %s", sent, args.stream)
    return 0


def _catalog_columns(args: argparse.Namespace) -> Columns:
    """A table's columns from the source's catalog, looked up once per table."""
    import pymysql

    from sources.discovery import MySqlCatalog

    def connect() -> Any:
        return pymysql.connect(
            host=args.source_host,
            port=args.source_port,
            user=args.source_user,
            password=os.environ.get("SOURCE_PASSWORD", ""),
            connect_timeout=10,
        )

    catalog = MySqlCatalog(connect)
    known: dict[tuple[str, str], dict[str, DatabaseColumn]] = {}

    def columns(schema: str, table: str) -> dict[str, DatabaseColumn]:
        if (schema, table) not in known:
            found = catalog.describe(schema, table)
            known[(schema, table)] = {c.name: c for c in found.columns} if found else {}
        return known[(schema, table)]

    return columns


def _ensure_stream(kinesis: Any, stream: str, shards: int, timeout_s: float = 60) -> None:
    with contextlib.suppress(kinesis.exceptions.ResourceInUseException):
        kinesis.create_stream(StreamName=stream, ShardCount=shards)
    wait_for_stream(kinesis, stream, timeout_s)


if __name__ == "__main__":
    sys.exit(main())

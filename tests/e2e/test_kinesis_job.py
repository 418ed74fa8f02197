"""The job on a Kinesis stream: DMS records put into a real Kinesis API server on
loopback (kinesis-mock), read by the pinned connector, applied to a lake."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from pyspark.sql import SparkSession

from aws import wait_for_stream
from config import JobConfig
from local.aws_servers import CBOR_DISABLE_PROPERTY
from runtime.runner import run

STREAM = "cdc"


def job(tmp_path: Path, endpoint: str) -> JobConfig:
    columns = [{"name": "id", "type": "int"}, {"name": "name", "type": "string"}]
    return JobConfig.model_validate(
        {
            "name": "kinesis",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": {"kind": "kinesis", "stream": STREAM},
            "aws": {"endpoints": {"kinesis": endpoint}},
            "tables": [
                {"name": "customer", "source_schema": "sports", "keys": ["id"], "columns": columns},
                {"name": "team", "source_schema": "sports", "keys": ["id"], "columns": columns},
            ],
            "target": {"kind": "lake", "path": str(tmp_path / "lake")},
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )


def dms(table: str, operation: str, data: dict[str, Any] | None, **extra: Any) -> bytes:
    meta = {
        "timestamp": "2026-11-24T10:00:00.000000Z",
        "record-type": "data" if data is not None else "control",
        "operation": operation,
        "partition-key-type": "schema-table",
        "schema-name": "sports" if data is not None else "",
        "table-name": table,
    }
    record: dict[str, Any] = {"metadata": meta, **extra}
    if data is not None:
        record["data"] = data
    return json.dumps(record).encode()


@pytest.fixture()
def kinesis(spark: SparkSession, kinesis_endpoint: str, aws_env: dict[str, str]) -> Any:
    # The session's JVM started before the local credentials were exported: hand them to
    # the connector's default chain as the system properties it also reads.
    # kinesis-mock needs JSON, not CBOR (see local/aws_servers.py).
    system = spark.sparkContext._jvm.java.lang.System  # type: ignore[union-attr]
    system.setProperty("aws.accessKeyId", aws_env["AWS_ACCESS_KEY_ID"])
    system.setProperty("aws.secretKey", aws_env["AWS_SECRET_ACCESS_KEY"])
    system.setProperty(CBOR_DISABLE_PROPERTY, "true")
    client = boto3.client("kinesis", endpoint_url=kinesis_endpoint)
    client.create_stream(StreamName=STREAM, ShardCount=2)
    wait_for_stream(client, STREAM, timeout_s=30)
    yield client
    client.delete_stream(StreamName=STREAM, EnforceConsumerDeletion=True)
    client.get_waiter("stream_not_exists").wait(
        StreamName=STREAM, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )


def put(kinesis: Any, records: list[tuple[str, bytes]], shard: int | None = None) -> None:
    """In order, one call each: DMS keeps a key's changes in order on one shard.

    `shard` 0 or 1 sends every record to that shard of the two (by its hash key range).
    """
    for key, data in records:
        where = {} if shard is None else {"ExplicitHashKey": str(shard * 2**127)}
        kinesis.put_record(StreamName=STREAM, PartitionKey=key, Data=data, **where)


def rows(spark: SparkSession, tmp_path: Path, table: str) -> set[tuple[Any, ...]]:
    df = spark.read.parquet(str(tmp_path / "lake" / table))
    return {(r["id"], r["name"]) for r in df.select("id", "name").collect()}


def test_changes_on_a_kinesis_stream_reach_the_lake_and_a_restart_reads_only_new_ones(
    spark: SparkSession, tmp_path: Path, kinesis: Any, kinesis_endpoint: str
) -> None:
    config = job(tmp_path, kinesis_endpoint)
    put(
        kinesis,
        [
            ("task", dms("awsdms_apply_exceptions", "create-table", None)),
            ("sports.customer", dms("customer", "load", {"id": 1, "name": "Ann"})),
            ("sports.customer", dms("customer", "insert", {"id": 2, "name": "Bo"})),
            ("sports.team", dms("team", "insert", {"id": 1, "name": "Lions"})),
            ("sports.customer", dms("customer", "update", {"id": 2, "name": "Bob"})),
            ("sports.customer", dms("customer", "delete", {"id": 1, "name": "Ann"})),
            ("sports.customer", b"{not json"),
        ],
    )

    first = run(spark, config, once=True)

    assert first.errors == []
    assert rows(spark, tmp_path, "customer") == {(2, "Bob")}
    assert rows(spark, tmp_path, "team") == {(1, "Lions")}
    customer = next(t for t in first.tables if t.table == "customer")
    assert customer.quarantined == 1

    put(
        kinesis,
        [
            (
                "sports.customer",
                dms(
                    "customer",
                    "update",
                    {"id": 3, "name": "Bob"},
                    **{"before-image": {"id": 2, "name": "Bob"}},
                ),
            ),
            ("sports.team", dms("team", "update", {"id": 1, "name": "Tigers"})),
        ],
    )

    second = run(spark, config, once=True)

    assert second.errors == []
    assert rows(spark, tmp_path, "customer") == {(3, "Bob")}
    assert rows(spark, tmp_path, "team") == {(1, "Tigers")}
    # The new records only: the update, the delete of its old key, the team update.
    assert sum(sum(t.read_by_op.values()) for t in second.tables) == 3


def test_reprocessing_from_a_time_after_which_a_shard_and_a_table_are_quiet_converges(
    spark: SparkSession, tmp_path: Path, kinesis: Any, kinesis_endpoint: str
) -> None:
    """A new checkpoint at a timestamp: the quiet shard starts at its end (AT_TIMESTAMP),
    the quiet table reads nothing, the other table re-reads only what came after."""
    config = job(tmp_path, kinesis_endpoint)
    put(kinesis, [("sports.team", dms("team", "insert", {"id": 1, "name": "Lions"}))], shard=1)
    put(kinesis, [("sports.customer", dms("customer", "insert", {"id": 1, "name": "Ann"}))], 0)
    assert run(spark, config, once=True).errors == []
    time.sleep(1.5)  # arrival times are whole milliseconds: leave no doubt
    since = datetime.now(UTC)
    time.sleep(1.5)
    put(kinesis, [("sports.customer", dms("customer", "update", {"id": 1, "name": "Anna"}))], 0)
    assert run(spark, config, once=True).errors == []  # the regular job is up to date

    again = config.model_copy(
        update={
            "checkpoint": str(tmp_path / "checkpoint-reprocess"),
            "source": config.source.model_copy(update={"starting_timestamp": since}),
        }
    )
    outcome = run(spark, again, once=True)

    assert outcome.errors == []
    tables = {t.table: t for t in outcome.tables}
    assert dict(tables["customer"].read_by_op) == {"U": 1}
    assert sum(tables["team"].read_by_op.values()) == 0
    assert tables["customer"].stale == 1  # already applied by the regular job
    assert rows(spark, tmp_path, "customer") == {(1, "Anna")}
    assert rows(spark, tmp_path, "team") == {(1, "Lions")}


class _CountingProxy:
    """An HTTP proxy in front of the Kinesis server that counts GetRecords calls."""

    def __init__(self, upstream: str) -> None:
        import http.server
        import threading
        import urllib.request

        calls: list[str] = []

        class Forward(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                calls.append(self.headers.get("X-Amz-Target", ""))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                request = urllib.request.Request(
                    upstream + self.path, data=body, headers=headers, method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as answer:
                        status, payload, kept = answer.status, answer.read(), answer.headers
                except urllib.error.HTTPError as refused:
                    status, payload, kept = refused.code, refused.read(), refused.headers
                self.send_response(status)
                for key, value in kept.items():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return None

        self.calls = calls
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def get_records(self) -> int:
        return sum(1 for target in self.calls if target.endswith(".GetRecords"))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_the_stream_is_read_once_per_batch_whatever_the_number_of_tables(
    spark: SparkSession, tmp_path: Path, kinesis: Any, kinesis_endpoint: str
) -> None:
    """One query per stream: adding tables adds no GetRecords call (AWS limits a shard to
    5 reads a second, shared by every reader)."""
    put(
        kinesis,
        [
            (f"sports.{table}", dms(table, "insert", {"id": i, "name": f"n{i}"}))
            for i in range(1, 4)
            for table in ("customer", "team")
        ],
    )
    proxy = _CountingProxy(kinesis_endpoint)
    try:
        one = job(tmp_path / "one", proxy.endpoint)
        one = one.model_copy(update={"tables": one.tables[:1]})
        assert run(spark, one, once=True).errors == []
        reads_one_table = proxy.get_records()
        proxy.calls.clear()

        outcome = run(spark, job(tmp_path / "two", proxy.endpoint), once=True)
        reads_two_tables = proxy.get_records()
    finally:
        proxy.close()

    assert outcome.errors == []
    assert {t.table: sum(t.read_by_op.values()) for t in outcome.tables} == {
        "customer": 3,
        "team": 3,
    }
    assert 0 < reads_two_tables <= reads_one_table

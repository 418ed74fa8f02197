"""The latency floor of bench/e2e_latency.py: the Debezium JDBC sink connector.

What a user gets from Kafka Connect alone: a second Debezium MariaDB connector (its own
topic prefix, with the JSON converter's schemas, which the sink needs) streams
`sports.ticket_activity` to Kafka, and Debezium's JDBC sink connector (local/debezium-jdbc,
on the same Connect worker) upserts it into one PostgreSQL table of the warehouse, keyed
on the record key. No sequence guard, no tombstones, no denormalization, no masking: the
shortest path from a commit to a row, on the same machine and servers as the job.

Both connectors are registered for one run of the benchmark and removed after it, with
the table the sink created. On a small machine the two pipelines would share its cores if
both ran at once, so the benchmark pauses the connectors of the one it does not measure
(`pause`, `resume`; the job's side is the stack's connector, `STACK_CONNECTOR`).
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg

CONNECT = "http://127.0.0.1:8083"
SOURCE_NAME = "bench-floor-mariadb"
SINK_NAME = "bench-floor-jdbc"
STACK_CONNECTOR = "sports-mariadb"  # what feeds the job (local/connectors)
PREFIX = "floor"
TOPIC = f"{PREFIX}.sports.ticket_activity"
CONNECTORS = Path(__file__).resolve().parents[1] / "local" / "connectors"
_JSON = "org.apache.kafka.connect.json.JsonConverter"
WITH_SCHEMAS = {  # the sink builds its table from the records' schemas
    "key.converter": _JSON,
    "key.converter.schemas.enable": "true",
    "value.converter": _JSON,
    "value.converter.schemas.enable": "true",
}


def source_config() -> dict[str, str]:
    """The stack's MariaDB connector (local/connectors/sports-mariadb.json) for
    `ticket_activity` alone, under its own name and topics, from now on (no snapshot of
    the rows), with schemas."""
    stack = json.loads((CONNECTORS / "sports-mariadb.json").read_text(encoding="utf-8"))
    return {
        **stack,
        "database.server.id": "5402",
        "topic.prefix": PREFIX,
        "table.include.list": "sports.ticket_activity",
        "snapshot.mode": "no_data",
        "schema.history.internal.kafka.topic": f"{PREFIX}.schema-history",
        **WITH_SCHEMAS,
    }


def sink_config(table: str, warehouse: dict[str, Any]) -> dict[str, str]:
    """Debezium's JDBC sink: upserts by the record key into `table` (created by the sink)."""
    url = f"jdbc:postgresql://{warehouse['host']}:{warehouse['port']}/{warehouse['dbname']}"
    return {
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
        "tasks.max": "1",
        "topics": TOPIC,
        "connection.url": url,
        "connection.username": warehouse["user"],
        "connection.password": warehouse["password"],
        "insert.mode": "upsert",
        "delete.enabled": "true",
        "primary.key.mode": "record_key",
        "schema.evolution": "basic",
        "table.name.format": table,
        "database.time_zone": "UTC",
        **WITH_SCHEMAS,
    }


class Floor:
    """The two connectors of one run; `table` is where the sink writes (schema public)."""

    def __init__(self, run_id: str, warehouse: dict[str, Any]) -> None:
        self.table = f"floor_{run_id}"
        self._warehouse = warehouse

    def start(self, timeout_s: float = 120) -> None:
        """Register both connectors and wait until their tasks run."""
        _put(SOURCE_NAME, source_config())
        _put(SINK_NAME, sink_config(self.table, self._warehouse))
        for name in (SOURCE_NAME, SINK_NAME):
            _wait(name, "RUNNING", timeout_s)

    def pause(self) -> None:
        """Both connectors paused: the binlog and the topic wait for `resume`."""
        for name in (SOURCE_NAME, SINK_NAME):
            pause(name)

    def resume(self) -> None:
        for name in (SOURCE_NAME, SINK_NAME):
            resume(name)

    def remove(self) -> None:
        """Delete both connectors and the sink's table (best effort: the run is over)."""
        for name in (SINK_NAME, SOURCE_NAME):
            with contextlib.suppress(urllib.error.URLError):
                _request("DELETE", f"/connectors/{name}")
        with psycopg.connect(**self._warehouse, autocommit=True) as conn:
            conn.execute(f'DROP TABLE IF EXISTS public."{self.table}"')


def pause(name: str, timeout_s: float = 60) -> None:
    """Pause a connector and wait until it and its tasks are paused."""
    _request("PUT", f"/connectors/{name}/pause")
    _wait(name, "PAUSED", timeout_s)


def resume(name: str, timeout_s: float = 60) -> None:
    """Resume a paused connector and wait until it and its tasks run."""
    _request("PUT", f"/connectors/{name}/resume")
    _wait(name, "RUNNING", timeout_s)


def _wait(name: str, state: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (now := _state(name)) != f"{state} {state}":
        if "FAILED" in now or time.monotonic() > deadline:
            raise RuntimeError(f"connector {name}: {now or 'not registered'}, not {state}")
        time.sleep(0.5)


def _put(name: str, config: dict[str, str]) -> None:
    _request("PUT", f"/connectors/{name}/config", config)


def _state(name: str) -> str:
    try:
        status = _request("GET", f"/connectors/{name}/status")
    except urllib.error.URLError:
        return ""
    tasks = ",".join(t["state"] for t in status.get("tasks", []))
    return f"{status['connector']['state']} {tasks}"


def _request(method: str, path: str, body: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        CONNECT + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
    return json.loads(text) if text else None

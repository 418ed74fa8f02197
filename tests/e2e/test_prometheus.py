"""A real Prometheus server scrapes the running job's endpoint, and the same run sends its
metrics to CloudWatch (the local AWS-API server): both hold the table's series with the
same counts as the job's batch log lines."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aws import client
from config import AwsConfig
from simulators.cases import generate
from tests.e2e.launch import REPO, deliver, lake_row_count, start_job, stop_job, wait_for

PROMETHEUS = shutil.which("prometheus")
_ON_DEBIAN = Path("/etc/debian_version").exists()

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None and not _ON_DEBIAN,
    reason="needs the prometheus binary: Debian package `prometheus` "
    "(scripts/install-system-deps.sh installs it on Debian)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A Prometheus server on loopback scraping 127.0.0.1:<job port> every second:
    yields its URL and the port the job must listen on."""
    assert PROMETHEUS is not None, "install the Debian package prometheus"
    job_port, port = _free_port(), _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: stream_cdc\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{job_port}']}}]\n",
        encoding="utf-8",
    )
    log = (tmp_path / "prometheus.log").open("wb")
    server = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _get(f"{url}/-/ready") is not None, 60), "prometheus not ready"
        yield url, job_port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read()
    except OSError:
        return None
    return json.loads(body) if body.startswith(b"{") else body


def _query(url: str, expression: str) -> list[dict[str, Any]]:
    answer = _get(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expression}))
    if not answer or answer.get("status") != "success":
        return []
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _batch_lines(*logs: Path) -> list[dict[str, Any]]:
    lines = []
    for path in logs:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            start = line.find('{"event": "batch"')
            if start >= 0:
                lines.append(json.loads(line[start:]))
    return lines


def test_prometheus_scrapes_the_running_jobs_series_and_cloudwatch_gets_them(
    tmp_path: Path, prometheus: tuple[str, int], moto_endpoint: str
) -> None:
    url, job_port = prometheus
    landing = tmp_path / "landing"
    reference = generate(tmp_path / "generated", initial_rows=200, cdc_files=2, changes_per_file=40)
    for file in reference.files:
        deliver(file, landing / "public" / "cases")
    out, err = tmp_path / "job.out", tmp_path / "job.err"
    sets = {
        "source.path": landing,
        "trigger_interval": "1 second",
        "metrics.prometheus.port": job_port,
        "metrics.cloudwatch.enabled": "true",
        "aws.endpoints.cloudwatch": moto_endpoint,
    }
    args = [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    with out.open("w") as stdout, err.open("w") as stderr:
        job = start_job(
            tmp_path, "--config", str(REPO / "conf" / "demo.yaml"), *args, stdout=stdout,
            stderr=stderr,
        )  # fmt: skip
    lake = tmp_path / "work" / "demo" / "lake" / "cases"
    try:
        done = wait_for(lambda: lake_row_count(lake) == len(reference.final_rows), 240)
        assert done, err.read_text()[-4000:]
        assert wait_for(lambda: _logged_equals_scraped(url, out, err), 60), (
            _batch_lines(out, err),
            _query(url, '{table="cases"}'),
        )
        up = _query(url, 'up{job="stream_cdc"}')
        assert [float(s["value"][1]) for s in up] == [1.0]
    finally:
        stop_job(job)  # Ctrl-C
    assert job.returncode == 0, err.read_text()[-4000:]
    # The stop sent what was queued: CloudWatch has every batch's rows of the log.
    lines = _batch_lines(out, err)
    logged = sum(n for line in lines for n in line["read"].values())
    assert _cloudwatch_sum(moto_endpoint, "RowsRead", "Op") == logged
    assert _cloudwatch_sum(moto_endpoint, "Batches", None) == len(lines)


def _logged_equals_scraped(url: str, *logs: Path) -> bool:
    """Prometheus holds, for the table, what the batch log lines add up to."""
    lines = _batch_lines(*logs)
    if not lines:
        return False
    read: dict[str, float] = {}
    for line in lines:
        for op, n in line["read"].items():
            read[op] = read.get(op, 0) + n
    expected = {
        "stream_cdc_batches_total": {"": float(len(lines))},
        "stream_cdc_rows_quarantined_total": {"": float(sum(x["quarantined"] for x in lines))},
        "stream_cdc_table_rows": {"": float(lines[-1]["rows_in_table"])},
        "stream_cdc_rows_read_total": {op: float(n) for op, n in read.items() if n},
    }
    for name, values in expected.items():
        series = _query(url, f'{name}{{table="cases", source="cases_demo.source"}}')
        got = {s["metric"].get("op", ""): float(s["value"][1]) for s in series}
        got = {k: v for k, v in got.items() if v or k == ""}
        if got != values:
            return False
    return True


def _cloudwatch_sum(endpoint: str, name: str, by: str | None) -> float:
    """The sum of every data point of `name` for the demo's table, over its `by` values."""
    cloudwatch = client("cloudwatch", AwsConfig(endpoints={"cloudwatch": endpoint}))
    listed = cloudwatch.list_metrics(Namespace="StreamCDC", MetricName=name)["Metrics"]
    # In the order listed (the publisher's): moto matches dimensions sorted in an order
    # that depends on how they are given.
    wanted = {
        tuple((d["Name"], d["Value"]) for d in m["Dimensions"])
        for m in listed
        if {d["Name"] for d in m["Dimensions"]} == {"Job", "Table"} | ({by} if by else set())
    }
    assert wanted, f"no {name} for the table in CloudWatch"
    assert all(dict(d)["Table"] == "cases" and dict(d)["Job"] == "cases_demo" for d in wanted)
    now = datetime.now(UTC)
    total = 0.0
    for dimensions in sorted(wanted):
        query = {
            "Id": "m",
            "MetricStat": {
                "Metric": {
                    "Namespace": "StreamCDC",
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions],
                },
                "Period": 60,
                "Stat": "Sum",
            },
        }
        answer = cloudwatch.get_metric_data(
            MetricDataQueries=[query],
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(minutes=5),
        )
        total += sum(answer["MetricDataResults"][0]["Values"])
    return total

"""The job's metric series: a batch's metrics as samples (pure), the Prometheus registry
they feed, and its HTTP endpoint on loopback (prometheus_client's own server)."""

from __future__ import annotations

import socket
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from config import ConfigError, JobConfig, PrometheusMetrics
from runtime.batch import SourceBatch
from runtime.cloudwatch import datums
from runtime.export import MetricsExport, cloudwatch_enabled
from runtime.metrics import BatchMetrics
from runtime.prometheus import PrometheusExporter
from runtime.series import SERIES, samples
from sinks.base import BatchResult

REPO = Path(__file__).resolve().parents[2]
OPERATIONS = REPO / "docs" / "operations.md"


def _batch(batch_id: int = 3, *, latency: float | None = 4.5, rows: int | None = 90) -> SourceBatch:
    metrics = BatchMetrics(
        table="orders",
        batch_id=batch_id,
        read_by_op={"I": 7, "U": 2, "D": 1},
        quarantined=2,
        skipped=1,
        result=BatchResult(
            batch_id,
            upserts=8,
            deletes=1,
            stale=1,
            rows_in_table=rows,
            timings={"decide_s": 0.4, "publish_s": 0.2, "total_s": 0.7},
        ),
        duration_s=1.25,
        max_latency_s=latency,
        min_latency_s=1.0,
    )
    return SourceBatch(
        batch_id,
        other_tables=5,
        unrouted=3,
        tables=[metrics],
        timings={"decode_s": 0.3, "apply_s": 0.9} if rows is not None else {},
        spark_jobs=12 if rows is not None else None,
    )


def _values(
    batch: SourceBatch, source: dict[str, object] | None
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.series.name, s.labels): s.value for s in samples("shop.source", batch, source, now=100.0)
    }


def test_a_batch_becomes_samples_labelled_by_source_table_op_and_phase() -> None:
    got = _values(_batch(), {"input_rows": 16, "offsets_behind_latest": 42.0})
    t = (("source", "shop.source"), ("table", "orders"))
    s = (("source", "shop.source"),)
    assert got == {
        ("stream_cdc_batches_total", t): 1.0,
        ("stream_cdc_rows_read_total", (*t, ("op", "D"))): 1.0,
        ("stream_cdc_rows_read_total", (*t, ("op", "I"))): 7.0,
        ("stream_cdc_rows_read_total", (*t, ("op", "U"))): 2.0,
        ("stream_cdc_rows_quarantined_total", t): 2.0,
        ("stream_cdc_records_skipped_total", t): 1.0,
        ("stream_cdc_changes_applied_total", (*t, ("action", "upsert"))): 8.0,
        ("stream_cdc_changes_applied_total", (*t, ("action", "delete"))): 1.0,
        ("stream_cdc_changes_stale_total", t): 1.0,
        ("stream_cdc_table_rows", t): 90.0,
        ("stream_cdc_batch_duration_seconds", t): 1.25,
        ("stream_cdc_batch_phase_seconds_total", (*t, ("phase", "decide"))): 0.4,
        ("stream_cdc_batch_phase_seconds_total", (*t, ("phase", "publish"))): 0.2,
        ("stream_cdc_batch_phase_seconds_total", (*t, ("phase", "total"))): 0.7,
        ("stream_cdc_commit_to_visible_seconds", t): 4.5,
        ("stream_cdc_last_batch_timestamp_seconds", t): 100.0,
        ("stream_cdc_records_other_tables_total", s): 5.0,
        ("stream_cdc_records_unrouted_total", s): 3.0,
        ("stream_cdc_source_rows_total", s): 16.0,
        ("stream_cdc_source_lag_offsets", s): 42.0,
        ("stream_cdc_source_spark_jobs_total", s): 12.0,
        ("stream_cdc_source_phase_seconds_total", (*s, ("phase", "decode"))): 0.3,
        ("stream_cdc_source_phase_seconds_total", (*s, ("phase", "apply"))): 0.9,
    }


def test_what_a_batch_does_not_know_is_left_out_not_zero() -> None:
    got = _values(_batch(latency=None, rows=None), None)
    names = {name for name, _ in got}
    assert "stream_cdc_commit_to_visible_seconds" not in names
    assert "stream_cdc_table_rows" not in names
    assert "stream_cdc_source_lag_offsets" not in names
    assert "stream_cdc_source_rows_total" not in names
    assert "stream_cdc_source_spark_jobs_total" not in names


def test_series_follow_prometheus_naming_conventions() -> None:
    for series in SERIES:
        assert series.name.startswith("stream_cdc_"), series.name
        assert series.name.endswith("_total") == (series.kind == "counter"), series.name
        if series.unit == "Seconds":
            assert "_seconds" in series.name, series.name
        assert series.labels[0] == "source", series.name


def test_every_series_is_in_the_operations_doc_with_its_type_and_labels() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    for series in SERIES:
        labels = ", ".join(f"`{label}`" for label in series.labels)
        row = f"| `{series.name}` | {series.kind} | {labels} |"
        assert row in text, f"docs/operations.md: no row {row}"


def _scrape(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_exporter_accumulates_counters_sets_gauges_and_fills_histograms() -> None:
    exporter = PrometheusExporter()
    for batch_id in (1, 2):
        exporter.observe(samples("shop.source", _batch(batch_id, rows=90 + batch_id), None))
    from prometheus_client import generate_latest

    got = _scrape(generate_latest(exporter.registry).decode())
    t = {("source", "shop.source"), ("table", "orders")}
    assert got[("stream_cdc_rows_read_total", frozenset(t | {("op", "I")}))] == 14.0
    assert got[("stream_cdc_table_rows", frozenset(t))] == 92.0
    assert got[("stream_cdc_batch_duration_seconds_count", frozenset(t))] == 2.0
    assert got[("stream_cdc_batch_duration_seconds_sum", frozenset(t))] == 2.5
    assert got[("stream_cdc_commit_to_visible_seconds_bucket", frozenset(t | {("le", "5.0")}))] == 2
    assert got[("stream_cdc_commit_to_visible_seconds_bucket", frozenset(t | {("le", "2.5")}))] == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(**metrics: object) -> JobConfig:
    return JobConfig.model_validate(
        {
            "checkpoint": "cp",
            "source": {"kind": "files", "path": "landing", "format": "dms-csv"},
            "tables": [{"name": "orders", "keys": ["id"]}],
            "target": {"kind": "lake", "path": "lake"},
            "quarantine": {"path": "q"},
            "metrics": metrics,
        }
    )


def test_the_endpoint_serves_the_metrics_on_loopback_and_closes() -> None:
    port = _free_port()
    export = MetricsExport(_config(prometheus={"port": port}), on_glue=False)
    try:
        export.observe("shop.source", _batch(), None)
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
    finally:
        export.close()
    got = _scrape(text)
    t = frozenset({("source", "shop.source"), ("table", "orders")})
    assert got[("stream_cdc_rows_quarantined_total", t)] == 2.0
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)


def test_a_busy_port_fails_at_start_naming_the_key() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=r"metrics.prometheus: cannot listen on 127.0.0.1:"):
            PrometheusExporter().serve(PrometheusMetrics(port=port))


def test_metrics_are_off_by_default_and_cloudwatch_follows_glue_unless_set() -> None:
    config = _config()
    assert config.metrics.prometheus.port is None
    assert config.metrics.prometheus.host == "127.0.0.1"
    assert cloudwatch_enabled(config, on_glue=True)
    assert not cloudwatch_enabled(config, on_glue=False)
    assert not cloudwatch_enabled(_config(cloudwatch={"enabled": False}), on_glue=True)
    assert cloudwatch_enabled(_config(cloudwatch={"enabled": True}), on_glue=False)


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ({"prometheus": {"port": 70000}}, "less than or equal to 65535"),
        ({"cloudwatch": {"namespace": "AWS/Glue"}}, "is not a CloudWatch namespace"),
        ({"cloudwatch": {"dimensions": {"Table": "x"}}}, "dimension names the job sets"),
    ],
)
def test_bad_metrics_settings_are_refused(metrics: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _config(**metrics)


def test_cloudwatch_data_carry_job_table_label_and_extra_dimensions() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    data = datums(samples("shop.source", _batch(), None), "shop", {"Env": "prod"}, at)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for datum in data:
        by_name.setdefault(datum["MetricName"], []).append(datum)
        assert datum["Timestamp"] == at
    dims = {
        name: sorted(tuple((d["Name"], d["Value"]) for d in x["Dimensions"]) for x in found)
        for name, found in by_name.items()
    }
    job = (("Job", "shop"), ("Env", "prod"))
    assert dims["RowsQuarantined"] == sorted([job, (*job, ("Table", "orders"))])
    assert dims["BatchPhaseDuration"] == sorted(
        (*job, ("Table", "orders"), ("Phase", p)) for p in ("decide", "publish", "total")
    )
    assert dims["RecordsUnrouted"] == sorted([job, (*job, ("Source", "shop.source"))])
    assert {d["Unit"] for d in by_name["CommitToVisible"]} == {"Seconds"}
    assert {d["Unit"] for d in by_name["RowsRead"]} == {"Count"}
    assert "LastBatch" not in by_name and None not in by_name
    assert sum(d["Value"] for d in by_name["RowsRead"]) == 10

"""CloudWatch metrics through the project's AWS client, against the local AWS-API server:
what a batch sends, read back with ListMetrics and GetMetricData, and the call limits."""

from __future__ import annotations

import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aws import client
from config import AwsConfig, CloudWatchMetrics
from runtime.batch import SourceBatch
from runtime.cloudwatch import MAX_DATA_PER_CALL, CloudWatchPublisher, chunks, datums
from runtime.metrics import BatchMetrics
from runtime.series import SERIES, samples
from sinks.base import BatchResult


def _batch(table: str, quarantined: int) -> SourceBatch:
    metrics = BatchMetrics(
        table=table,
        batch_id=1,
        read_by_op={"I": 5, "D": 1},
        quarantined=quarantined,
        skipped=0,
        result=BatchResult(1, upserts=5, deletes=1, timings={"merge_s": 0.3}),
        duration_s=0.8,
        max_latency_s=2.0,
    )
    return SourceBatch(1, tables=[metrics], timings={"apply_s": 0.5}, spark_jobs=7)


@pytest.fixture
def aws(moto_endpoint: str) -> AwsConfig:
    return AwsConfig(endpoints={"cloudwatch": moto_endpoint})


def _dimensions(metric: dict[str, Any]) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in metric["Dimensions"]}


def _sum(cloudwatch: Any, namespace: str, name: str, dimensions: dict[str, str]) -> float:
    """Sum of every data point; `dimensions` in the publisher's order (Job, extra, Table,
    label): moto matches dimensions sorted in an order that depends on how they come."""
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "q",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": name,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=10),
    )
    return float(sum(answer["MetricDataResults"][0]["Values"]))


def test_a_batch_reaches_cloudwatch_per_table_and_as_the_jobs_total(aws: AwsConfig) -> None:
    namespace = f"StreamCDCTest/{uuid.uuid4().hex[:8]}"
    settings = CloudWatchMetrics(namespace=namespace, dimensions={"Environment": "test"})
    publisher = CloudWatchPublisher(settings, "shop", aws)
    publisher.observe(samples("shop.source", _batch("orders", 2), None))
    publisher.observe(samples("shop.source", _batch("items", 3), None))
    publisher.close()

    cloudwatch = client("cloudwatch", aws)
    listed = cloudwatch.list_metrics(Namespace=namespace, MetricName="RowsQuarantined")
    found = {tuple(sorted(_dimensions(m).items())) for m in listed["Metrics"]}
    assert found == {
        (("Environment", "test"), ("Job", "shop")),
        (("Environment", "test"), ("Job", "shop"), ("Table", "items")),
        (("Environment", "test"), ("Job", "shop"), ("Table", "orders")),
    }
    common = {"Job": "shop", "Environment": "test"}
    assert _sum(cloudwatch, namespace, "RowsQuarantined", {**common, "Table": "orders"}) == 2
    assert _sum(cloudwatch, namespace, "RowsQuarantined", common) == 5
    read = {**common, "Table": "orders", "Op": "I"}
    assert _sum(cloudwatch, namespace, "RowsRead", read) == 5
    phase = {**common, "Table": "items", "Phase": "merge"}
    assert _sum(cloudwatch, namespace, "BatchPhaseDuration", phase) == pytest.approx(0.3)
    source = {**common, "Source": "shop.source"}
    assert _sum(cloudwatch, namespace, "SourceSparkJobs", source) == 14  # two batches of 7
    source_phase = {**source, "Phase": "apply"}
    assert _sum(cloudwatch, namespace, "SourcePhaseDuration", source_phase) == pytest.approx(1.0)
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace=namespace)["Metrics"]}
    assert names == {s.cloudwatch for s in SERIES if s.cloudwatch} - {
        "RowsInTable",  # these batches do not count the rows in the table
        "SourceRows",  # nor come with Spark's progress (the source side)
        "SourceLagOffsets",
        "RecordsUnrouted",
    }


def test_a_large_batch_is_split_into_calls_within_the_limits(aws: AwsConfig) -> None:
    tables = [_batch(f"t{i:03d}", 1).tables[0] for i in range(120)]
    many = samples("shop.source", SourceBatch(1, tables=tables), None)
    data = datums(many, "shop", {}, datetime.now(UTC))
    calls = list(chunks(data))
    assert len(data) > MAX_DATA_PER_CALL
    assert [len(c) for c in calls][:-1] == [MAX_DATA_PER_CALL] * (len(calls) - 1)
    assert [d for c in calls for d in c] == data

    namespace = f"StreamCDCTest/{uuid.uuid4().hex[:8]}"
    publisher = CloudWatchPublisher(CloudWatchMetrics(namespace=namespace), "shop", aws)
    publisher.observe(many)
    publisher.close()
    cloudwatch = client("cloudwatch", aws)
    pages = cloudwatch.get_paginator("list_metrics").paginate(
        Namespace=namespace, MetricName="Batches"
    )
    seen = {_dimensions(m)["Table"] for p in pages for m in p["Metrics"]}
    assert seen == {f"t{i:03d}" for i in range(120)}


def test_an_unreachable_cloudwatch_is_logged_once_and_the_batch_goes_on(
    aws_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = AwsConfig(endpoints={"cloudwatch": "http://127.0.0.1:9"})
    publisher = CloudWatchPublisher(CloudWatchMetrics(), "shop", nowhere)
    with caplog.at_level("WARNING", logger="stream_cdc"):
        for _ in range(2):
            publisher.observe(samples("shop.source", _batch("orders", 1), None))
        publisher.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("metrics.cloudwatch: PutMetricData failed:")


def test_a_cloudwatch_that_never_answers_holds_up_no_batch(aws_env: dict[str, str]) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        publisher = CloudWatchPublisher(
            CloudWatchMetrics(), "shop", AwsConfig(endpoints={"cloudwatch": endpoint})
        )
        started = time.monotonic()
        for _ in range(3):
            publisher.observe(samples("shop.source", _batch("orders", 1), None))
        assert time.monotonic() - started < 1.0
        started = time.monotonic()
        publisher.close(timeout_s=2.0)
        assert time.monotonic() - started < 5.0

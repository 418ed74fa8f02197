"""The job's metrics in CloudWatch: each batch's samples (runtime/series.py) as metric
data, sent with `PutMetricData` in as few calls as the API's limits allow.

Dimensions: `Job` (the job's name), then `Table` for a table's series or `Source` (the
query) for a source's, then the series' own label (`Op`, `Action`, `Phase`), then the
config's extra dimensions. A series marked `job_total` is also sent with `Job` alone (and
the extra dimensions): CloudWatch does not aggregate across dimensions, and an alarm
needs one metric for the whole job. The calls are made from a thread of their own; a
failed call is logged and the job goes on: metrics never stop the replication.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from aws import AWS_ERRORS, AwsSettings, client, describe
from config import CloudWatchMetrics
from runtime.metrics import log
from runtime.series import Sample

__all__ = ["MAX_BYTES_PER_CALL", "MAX_DATA_PER_CALL", "CloudWatchPublisher", "chunks", "datums"]

# PutMetricData: at most 1000 metrics per call and 1 MB per request. The size is
# estimated from the data as JSON and kept at half the limit, for the encoding's overhead.
MAX_DATA_PER_CALL = 1000
MAX_BYTES_PER_CALL = 512 * 1024

_QUEUED = 100  # batches whose metrics wait to be sent

_DIMENSION = {"op": "Op", "action": "Action", "phase": "Phase"}


def datums(
    samples: list[Sample], job: str, extra: dict[str, str], at: datetime
) -> list[dict[str, Any]]:
    """The samples that CloudWatch gets, as `MetricData` entries."""
    out: list[dict[str, Any]] = []
    common = [{"Name": k, "Value": v} for k, v in sorted(extra.items())]
    for sample in samples:
        series = sample.series
        if series.cloudwatch is None:
            continue
        labels = dict(sample.labels)
        where = (
            [{"Name": "Table", "Value": labels["table"]}]
            if "table" in labels
            else [{"Name": "Source", "Value": labels["source"]}]
        )
        own = [{"Name": _DIMENSION[k], "Value": v} for k, v in sample.labels if k in _DIMENSION]
        job_only = [{"Name": "Job", "Value": job}, *common]
        out.append(_datum(series.cloudwatch, series.unit, [*job_only, *where, *own], sample, at))
        if series.job_total:
            out.append(_datum(series.cloudwatch, series.unit, job_only, sample, at))
    return out


def _datum(
    name: str, unit: str, dimensions: list[dict[str, str]], sample: Sample, at: datetime
) -> dict[str, Any]:
    return {
        "MetricName": name,
        "Dimensions": dimensions,
        "Timestamp": at,
        "Value": sample.value,
        "Unit": unit,
    }


def chunks(data: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """The data in calls that respect PutMetricData's limits, in order."""
    chunk: list[dict[str, Any]] = []
    size = 0
    for datum in data:
        length = len(json.dumps(datum, default=str))
        if chunk and (len(chunk) == MAX_DATA_PER_CALL or size + length > MAX_BYTES_PER_CALL):
            yield chunk
            chunk, size = [], 0
        chunk.append(datum)
        size += length
    if chunk:
        yield chunk


class CloudWatchPublisher:
    """Sends each batch's samples to CloudWatch through the project's AWS client, from a
    thread of its own: a slow or unreachable CloudWatch (the client retries, and waits
    for connections) never holds up a batch or Spark's listener. Up to `_QUEUED` batches
    wait; beyond that a batch's metrics are dropped, with one warning."""

    def __init__(self, settings: CloudWatchMetrics, job: str, aws: AwsSettings) -> None:
        self.settings = settings
        self.job = job
        self._client = client("cloudwatch", aws)
        self._queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(_QUEUED)
        self._failing = False
        self._dropped = 0
        self._thread = threading.Thread(target=self._send, name="cloudwatch-metrics", daemon=True)
        self._thread.start()

    def observe(self, samples: list[Sample]) -> None:
        data = datums(samples, self.job, self.settings.dimensions, datetime.now(UTC))
        if not data:
            return
        try:
            self._queue.put_nowait(data)
        except queue.Full:
            if not self._dropped:
                log.warning("metrics.cloudwatch: sending falls behind; dropping batches' metrics")
            self._dropped += 1

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued, waiting at most `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout_s)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive() or self._dropped:
            unsent = self._queue.qsize() + self._dropped
            log.warning("metrics.cloudwatch: metrics of %d batch(es) not sent", unsent)

    def _send(self) -> None:
        while (data := self._queue.get()) is not None:
            self._put(data)

    def _put(self, data: list[dict[str, Any]]) -> None:
        try:
            for chunk in chunks(data):
                self._client.put_metric_data(Namespace=self.settings.namespace, MetricData=chunk)
        except AWS_ERRORS as error:
            if not self._failing:  # once per outage, not once per batch
                log.warning("metrics.cloudwatch: PutMetricData failed: %s", describe(error))
            self._failing = True
            return
        if self._failing:
            log.info("metrics.cloudwatch: PutMetricData works again")
        self._failing = False

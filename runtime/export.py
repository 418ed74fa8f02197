"""Where the job's per-batch metrics go besides the log: a Prometheus endpoint and
CloudWatch, as `metrics` in the config says. Fed by the batch log (runtime/listener.py)
with the same pairs of sink metrics and Spark progress as its log lines."""

from __future__ import annotations

import sys
from typing import Any, Protocol

from config import JobConfig
from runtime.batch import SourceBatch
from runtime.cloudwatch import CloudWatchPublisher
from runtime.glue import running_on_glue
from runtime.metrics import log
from runtime.prometheus import PrometheusExporter
from runtime.series import Sample, samples

__all__ = ["MetricsExport", "cloudwatch_enabled"]


class _Sink(Protocol):
    def observe(self, samples: list[Sample]) -> None: ...


def cloudwatch_enabled(config: JobConfig, *, on_glue: bool) -> bool:
    """`metrics.cloudwatch.enabled`, or when unset: whether the job runs on AWS Glue."""
    enabled = config.metrics.cloudwatch.enabled
    return on_glue if enabled is None else enabled


class MetricsExport:
    """The exporters a job's config asks for; `observe` gives each a batch's samples."""

    def __init__(self, config: JobConfig, *, on_glue: bool | None = None) -> None:
        glue = running_on_glue(sys.argv) if on_glue is None else on_glue
        self._sinks: list[_Sink] = []
        self._prometheus: PrometheusExporter | None = None
        self._cloudwatch: CloudWatchPublisher | None = None
        settings = config.metrics
        if settings.prometheus.port is not None:
            self._prometheus = PrometheusExporter()
            port = self._prometheus.serve(settings.prometheus)
            log.info("metrics: Prometheus endpoint http://%s:%d/metrics",
                     settings.prometheus.host, port)  # fmt: skip
            self._sinks.append(self._prometheus)
        if cloudwatch_enabled(config, on_glue=glue):
            self._cloudwatch = CloudWatchPublisher(settings.cloudwatch, config.name, config.aws)
            self._sinks.append(self._cloudwatch)
            log.info("metrics: CloudWatch namespace %s", settings.cloudwatch.namespace)

    def observe(self, query: str, batch: SourceBatch, source: dict[str, Any] | None) -> None:
        if not self._sinks:
            return
        batch_samples = samples(query, batch, source)
        for sink in self._sinks:
            try:
                sink.observe(batch_samples)
            except Exception as error:  # metrics never stop the replication
                log.warning("metrics: %s failed: %s", type(sink).__name__, error)

    def close(self) -> None:
        if self._prometheus is not None:
            self._prometheus.close()
        if self._cloudwatch is not None:
            self._cloudwatch.close()

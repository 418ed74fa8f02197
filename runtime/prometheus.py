"""The job's Prometheus endpoint: the samples of every batch (runtime/series.py) kept in a
registry of its own and served by prometheus_client's HTTP server on the driver."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from config import ConfigError, PrometheusMetrics
from runtime.series import SERIES, Sample, Series

__all__ = ["DURATION_BUCKETS", "PrometheusExporter"]

# Seconds: a batch takes from a fraction of a second to minutes; a change from its
# commit to the target, up to the hours of a backlog.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class PrometheusExporter:
    """Metrics of the job in a registry of their own; `serve` exposes them over HTTP."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._metrics = {s.name: _metric(s, self.registry) for s in SERIES}
        self._server: Any = None
        self._thread: Any = None

    def serve(self, settings: PrometheusMetrics) -> int:
        """Listen on `settings.host`:`settings.port`; returns the port. A port taken or an
        address not of this host is a ConfigError (the job stops at start, exit code 2)."""
        assert settings.port is not None, "no port: the endpoint is off"
        try:
            self._server, self._thread = start_http_server(
                settings.port, addr=settings.host, registry=self.registry
            )
        except OSError as error:  # a config error: the job exits 2, naming the key
            raise ConfigError(
                f"metrics.prometheus: cannot listen on {settings.host}:{settings.port} "
                f"({error.strerror or error}); choose another port or unset it"
            ) from error
        port: int = self._server.server_port
        return port

    def observe(self, samples: list[Sample]) -> None:
        for sample in samples:
            metric = self._metrics[sample.series.name]
            child = metric.labels(*(value for _, value in sample.labels))
            kind = sample.series.kind
            if kind == "counter":
                child.inc(sample.value)
            elif kind == "gauge":
                child.set(sample.value)
            else:
                child.observe(sample.value)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None


def _metric(series: Series, registry: CollectorRegistry) -> Any:
    if series.kind == "counter":
        # prometheus_client adds `_total` itself: it takes the name without it.
        name = series.name.removesuffix("_total")
        return Counter(name, series.help, series.labels, registry=registry)
    if series.kind == "gauge":
        return Gauge(series.name, series.help, series.labels, registry=registry)
    return Histogram(
        series.name, series.help, series.labels, registry=registry, buckets=DURATION_BUCKETS
    )

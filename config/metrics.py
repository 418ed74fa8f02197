"""The `metrics` section: where the running job exports its per-batch metrics."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from config.base import Strict

__all__ = ["CloudWatchMetrics", "MetricsConfig", "PrometheusMetrics"]

# CloudWatch: a namespace of letters, digits and . - _ / # : (no leading colon), at most
# 255; a dimension name or value 1-255 characters, at most 30 dimensions per metric.
_NAMESPACE = re.compile(r"^[A-Za-z0-9.\-_/#][A-Za-z0-9.\-_/#:]{0,254}$")
_MAX_EXTRA_DIMENSIONS = 27  # 30 minus the job's own: Job, Table or Source, and one label


class PrometheusMetrics(Strict):
    """An HTTP endpoint on the driver that Prometheus scrapes (`GET /metrics`). Off unless
    a port is set: a fixed default port would stop a second job on the same host from
    starting, and on AWS Glue nothing can reach the driver (use CloudWatch there)."""

    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="TCP port of the endpoint (9464 is the usual choice); unset: no endpoint",
    )
    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="address the endpoint listens on; the default keeps it on this machine "
        "(a Prometheus on the same host, or a tunnel); 0.0.0.0 exposes it to the network",
    )


class CloudWatchMetrics(Strict):
    """CloudWatch metrics (`PutMetricData`, batched), with the dimensions Job (the job's
    name) and Table or Source. On by default when the job runs as an AWS Glue job: there
    CloudWatch is where operators look and the CloudFormation template's alarms read
    these metrics; off elsewhere, where there is usually no CloudWatch to send to."""

    enabled: bool | None = Field(
        default=None,
        description="send the metrics; unset: only when running as an AWS Glue job",
    )
    namespace: str = Field(
        default="StreamCDC",
        description="CloudWatch namespace (the template's MetricsNamespace parameter, which "
        "the job's IAM role may write to)",
    )
    dimensions: dict[str, str] = Field(
        default_factory=dict,
        description="extra dimensions on every metric, e.g. {Environment: prod}",
    )

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not _NAMESPACE.match(value) or value.startswith("AWS/"):
            raise ValueError(
                f"{value!r} is not a CloudWatch namespace (letters, digits and . - _ / # :, "
                "at most 255, not starting with : or AWS/)"
            )
        return value

    @field_validator("dimensions")
    @classmethod
    def _dimensions(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > _MAX_EXTRA_DIMENSIONS:
            raise ValueError(f"at most {_MAX_EXTRA_DIMENSIONS} extra dimensions")
        reserved = {"Job", "Table", "Source", "Op", "Action", "Phase"} & set(value)
        if reserved:
            raise ValueError(f"{sorted(reserved)}: dimension names the job sets itself")
        for name, text in value.items():
            if not 1 <= len(name) <= 255 or not 1 <= len(text) <= 255:
                raise ValueError(f"dimension {name!r}: name and value take 1 to 255 characters")
        return value


class MetricsConfig(Strict):
    """Per-batch metrics of the running job (docs/operations.md, "Metrics"): the same
    counts and timings as the batch log line, never a row value."""

    prometheus: PrometheusMetrics = Field(
        default=PrometheusMetrics(), description="endpoint for Prometheus"
    )
    cloudwatch: CloudWatchMetrics = Field(
        default=CloudWatchMetrics(), description="CloudWatch metrics"
    )

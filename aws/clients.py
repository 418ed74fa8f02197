"""boto3 clients with one retry policy, and Spark's S3A settings, from `AwsSettings`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol
from urllib.parse import urlparse

__all__ = [
    "MAX_ATTEMPTS",
    "AwsSettings",
    "Service",
    "arrow_s3",
    "arrow_s3_options",
    "bucket_region",
    "client",
    "s3a_settings",
    "wait_for_stream",
]

Service = Literal["s3", "kinesis", "glue", "secretsmanager", "redshift-data", "sts", "cloudwatch"]

# botocore's "standard" retry mode: throttling, transient and connection errors are
# retried with exponential backoff and jitter, by botocore's own classification.
MAX_ATTEMPTS = 5


class AwsSettings(Protocol):
    """Where the AWS APIs answer: a region, and optionally an endpoint per service."""

    @property
    def region(self) -> str | None:
        """None: boto3's own default (environment, profile)."""
        ...

    def endpoint(self, service: Service) -> str | None:
        """A URL for `service` (a local server speaking its API), or None for AWS's own."""
        ...


def client(service: Service, settings: AwsSettings | None = None) -> Any:
    """A boto3 client of `service`, retrying as botocore's standard mode does.

    Without `settings`, boto3's own configuration decides (environment, profile, and
    `AWS_ENDPOINT_URL_<SERVICE>`): what reading a config from S3 needs before any config
    exists. Clients are cached per (service, region, endpoint): they are thread-safe and
    slow to build.
    """
    if settings is None:
        return _client(service, None, None)
    return _client(service, settings.region, settings.endpoint(service))


@functools.lru_cache(maxsize=64)
def _client(service: Service, region: str | None, endpoint: str | None) -> Any:
    import boto3
    from botocore.config import Config

    retries = Config(retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS})
    return boto3.client(service, region_name=region, endpoint_url=endpoint, config=retries)


def s3a_settings(settings: AwsSettings) -> dict[str, str]:
    """Hadoop S3A settings so that `s3://` and `s3a://` paths work under spark-submit.

    On Glue (EMRFS) and EMR `s3://` is native: these are only applied where no S3
    filesystem is configured. A local endpoint gets path-style access (no bucket
    subdomains on 127.0.0.1) and plain HTTP when its URL says so.
    """
    values = {"spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem"}
    if settings.region:
        values["spark.hadoop.fs.s3a.endpoint.region"] = settings.region
    endpoint = settings.endpoint("s3")
    if endpoint:
        url = urlparse(endpoint)
        values.update(
            {
                "spark.hadoop.fs.s3a.endpoint": endpoint,
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": str(url.scheme == "https").lower(),
            }
        )
    return values


def arrow_s3_options(hadoop: Callable[[str], str | None]) -> dict[str, str]:
    """The S3A settings of a Hadoop configuration (`hadoop`: its getter) as the options of
    Arrow's S3 file system: the endpoint and region S3A uses, and the credentials it was
    given, if any (without them, AWS's default chain decides: environment, instance or
    task role, as it does for S3A). Secrets among them: never log them."""
    options: dict[str, str] = {}
    endpoint = hadoop("fs.s3a.endpoint")
    if endpoint:
        url = urlparse(endpoint if "://" in endpoint else f"//{endpoint}")
        secure = hadoop("fs.s3a.connection.ssl.enabled") != "false"
        options["endpoint_override"] = url.netloc
        options["scheme"] = url.scheme or ("https" if secure else "http")
    for option, key in (
        ("region", "fs.s3a.endpoint.region"),
        ("access_key", "fs.s3a.access.key"),
        ("secret_key", "fs.s3a.secret.key"),
        ("session_token", "fs.s3a.session.token"),
    ):
        value = hadoop(key)
        if value:
            options[option] = value
    return options


@functools.lru_cache(maxsize=64)
def bucket_region(bucket: str) -> str | None:
    """The region of an S3 bucket (one request to S3), for Arrow's S3 file system, which
    does not follow S3's redirects to it; None when S3 does not tell."""
    from pyarrow import fs

    try:
        return str(fs.resolve_s3_region(bucket))
    except OSError:
        return None


def arrow_s3(options: Mapping[str, str]) -> Any:
    """Arrow's S3 file system with `options` (`arrow_s3_options`): where Spark's tasks
    write files with Arrow."""
    from pyarrow import fs

    return fs.S3FileSystem(**options)


def wait_for_stream(kinesis: Any, stream: str, timeout_s: float = 60) -> None:
    """Until the Kinesis stream is ACTIVE (botocore's `stream_exists` waiter, polling
    once a second); raises botocore's WaiterError after `timeout_s`."""
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": max(1, round(timeout_s))}
    )

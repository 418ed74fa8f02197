"""AWS clients and Spark's S3 settings, from the job's `aws` config: one place that knows
endpoints, so local servers and AWS share every other line of code."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from config.models import AwsConfig, AwsService


def client(aws: AwsConfig, service: AwsService) -> Any:
    """A boto3 client of `service` in the job's region, at its configured endpoint if any."""
    import boto3

    return boto3.client(service, region_name=aws.region, endpoint_url=aws.endpoints.get(service))


def s3a_settings(aws: AwsConfig) -> dict[str, str]:
    """Hadoop S3A settings so that `s3://` and `s3a://` paths work under spark-submit.

    On Glue (EMRFS) and EMR `s3://` is native: these are only applied where no S3
    filesystem is configured. A local endpoint gets path-style access (no bucket
    subdomains on 127.0.0.1) and plain HTTP when its URL says so.
    """
    settings = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint.region": aws.region,
    }
    endpoint = aws.endpoints.get("s3")
    if endpoint:
        url = urlparse(endpoint)
        settings.update(
            {
                "spark.hadoop.fs.s3a.endpoint": endpoint,
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": str(url.scheme == "https").lower(),
            }
        )
    return settings

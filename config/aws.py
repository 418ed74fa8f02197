"""The `aws` section: where the AWS APIs answer."""

from __future__ import annotations

from pydantic import Field

from aws import Service
from config.base import Strict

__all__ = ["AwsConfig"]


class AwsConfig(Strict):
    """Where the AWS APIs answer. On AWS only `region` matters; `endpoints` point a
    service at a local server that speaks its API (the code path stays the same)."""

    region: str = Field(
        default="us-east-1", min_length=1, description="region of every AWS API the job calls"
    )
    endpoints: dict[Service, str] = Field(
        default_factory=dict,
        description="endpoint URL per service (s3, kinesis, glue, secretsmanager, "
        "redshift-data, sts, cloudwatch), only to reach local servers that speak the API; "
        "omit on AWS (the SDKs also honour AWS_ENDPOINT_URL_<SERVICE>)",
    )

    def endpoint(self, service: Service) -> str | None:
        return self.endpoints.get(service)

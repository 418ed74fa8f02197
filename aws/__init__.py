"""The one place that talks to AWS: clients, their retries, and what their errors mean.

A leaf: it imports nothing of the project. Callers pass where the APIs answer (an
`AwsSettings`: the job's `aws` config section satisfies it), so local servers and AWS
share every other line of code.
"""

from aws.clients import AwsSettings, Service, client, s3a_settings, wait_for_stream
from aws.errors import AWS_ERRORS, AwsError, describe, error_code, is_transient

__all__ = [
    "AWS_ERRORS",
    "AwsError",
    "AwsSettings",
    "Service",
    "client",
    "describe",
    "error_code",
    "is_transient",
    "s3a_settings",
    "wait_for_stream",
]

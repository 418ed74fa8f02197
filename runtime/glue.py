"""What differs when the job runs as an AWS Glue streaming job, and nothing else.

Glue starts the driver itself and passes job arguments on `sys.argv` as `--KEY VALUE`
pairs, its own among them (`--JOB_NAME`, `--JOB_RUN_ID`, `--TempDir`, ...). The job
detects Glue, lets those through (`jobs/stream_cdc.py`), builds its session through a
GlueContext, and reads the warehouse password and the tokenization key from Secrets
Manager, since a Glue job cannot be given environment variables.

**No `Job.init` / `Job.commit`.** They initialise and advance Glue *job bookmarks*, which
track what a batch ETL job has read. Glue streaming jobs use Structured Streaming
checkpoints instead of bookmarks, and this job keeps its own (`checkpoint` in the
config) and its own exactly-once bookkeeping in every sink; a bookmark would add
nothing and `commit` would only run once the stream stops. The deploy command sets
`--job-bookmark-option job-bookmark-disable` to say so.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aws import AWS_ERRORS, client, describe
from config import ConfigError, JobConfig, RedshiftTarget

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["glue_session", "running_on_glue", "with_hmac_secret", "with_redshift_secret"]


def running_on_glue(argv: Sequence[str]) -> bool:
    """Glue's runtime ships `awsglue`, and Glue always passes `--JOB_NAME`."""
    return "--JOB_NAME" in argv or importlib.util.find_spec("awsglue") is not None


def glue_session() -> SparkSession | None:
    """The session of a GlueContext, with the job's settings; None outside Glue.

    The GlueContext wraps the SparkContext Glue launched and wires Glue's own parts
    (its S3 filesystem, Data Catalog, logger); its `spark_session` is a session of its
    own, so the job's SQL settings are applied to that one, as `runtime.session`
    applies them under spark-submit.
    """
    if importlib.util.find_spec("awsglue") is None:
        return None
    from awsglue.context import GlueContext  # type: ignore[import-not-found]
    from pyspark import SparkContext

    from runtime.session import apply_settings

    spark: SparkSession = GlueContext(SparkContext.getOrCreate()).spark_session
    apply_settings(spark)
    return spark


def with_redshift_secret(config: JobConfig, secret_arn: str) -> JobConfig:
    """The config with the warehouse password from Secrets Manager as `target.password_env`.

    The rest of the job takes the password from the config's secrets, on Glue as anywhere
    else (for a driver connection; the Data API names its secret in the config). The
    secret is Secrets Manager's Redshift JSON (`{"username": ..., "password": ...}`,
    only `password` is used) or the password alone. Its value never reaches a log or
    an error message.
    """
    target = config.target
    if not isinstance(target, RedshiftTarget):
        raise ConfigError(
            f"--redshift-secret-arn: target.kind is {target.kind!r}; it needs 'redshift'"
        )
    if getattr(getattr(target, "connection", None), "kind", "driver") != "driver":
        raise ConfigError(
            "--redshift-secret-arn gives a driver connection its password; "
            "the Data API takes its secret from target.connection.secret_arn"
        )
    text = _secret_string(config, secret_arn, "--redshift-secret-arn")
    secrets = config.secrets.with_value(target.password_env, _password(text, secret_arn))
    return config.with_secrets(secrets)


def with_hmac_secret(config: JobConfig, secret_arn: str) -> JobConfig:
    """The config with the tokenization key from Secrets Manager as `privacy.hmac_key_env`.

    The secret is the key itself (a plain string). Its value never reaches a log or an
    error message.
    """
    key = _secret_string(config, secret_arn, "--hmac-secret-arn")
    return config.with_secrets(config.secrets.with_value(config.privacy.hmac_key_env, key))


def _secret_string(config: JobConfig, secret_arn: str, flag: str) -> str:
    try:
        response = client("secretsmanager", config.aws).get_secret_value(SecretId=secret_arn)
    except AWS_ERRORS as exc:
        raise ConfigError(f"{flag} {secret_arn}: {describe(exc)}") from None
    text = response.get("SecretString")
    if not isinstance(text, str) or not text:
        raise ConfigError(f"{flag} {secret_arn}: the secret has no string value")
    return text


def _password(text: str, secret_arn: str) -> str:
    if not text.lstrip().startswith("{"):
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(
            f"--redshift-secret-arn {secret_arn}: the secret looks like JSON but is not valid"
        ) from None
    password = value.get("password") if isinstance(value, dict) else None
    if not isinstance(password, str) or not password:
        raise ConfigError(f"--redshift-secret-arn {secret_arn}: the secret has no 'password' key")
    return password

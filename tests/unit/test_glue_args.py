"""The job's command line under Glue and spark-submit, and its config read from S3.

S3 and Secrets Manager are moto's server on loopback; no Spark session is started.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from config.load import ConfigError, load_config
from jobs.stream_cdc import main, parse_args
from runtime.glue import glue_session, running_on_glue, with_hmac_secret, with_redshift_secret

DEMO = Path(__file__).resolve().parents[2] / "conf" / "demo.yaml"

GLUE_OWN = [
    "--JOB_ID", "j_0123", "--JOB_RUN_ID", "jr_0123", "--JOB_NAME", "cdc",
    "--job-bookmark-option", "job-bookmark-disable", "--TempDir", "s3://assets/temp/",
    "--enable-metrics", "true", "--enable-continuous-cloudwatch-log", "true",
    "--job-language", "python", "--conf", "spark.sql.ansi.enabled=false",
]  # fmt: skip


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """boto3 finds the local server through the standard variable, as the job does."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    yield boto3.client("s3")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"conf-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="jobs/demo.yaml", Body=DEMO.read_bytes())
    return name


def test_glue_style_argv_with_glues_own_parameters_parses() -> None:
    args = parse_args([*GLUE_OWN, "--config", "s3://b/job.yaml", "--set", "name=x"])
    assert args.config == "s3://b/job.yaml"
    assert args.overrides == ["name=x"]
    assert args.once is False
    assert args.print_config is False


def test_glue_passes_switches_with_a_value() -> None:
    assert parse_args([*GLUE_OWN, "--once", "true"]).once is True
    assert parse_args([*GLUE_OWN, "--once", "false"]).once is False
    assert parse_args([*GLUE_OWN, "--once", "--config", "c.yaml"]).once is True


def test_glues_conf_is_not_taken_for_config() -> None:
    assert parse_args(["--JOB_NAME", "cdc", "--conf", "spark.x=1"]).config is None


def test_a_lookalike_of_our_flag_still_fails_on_glue(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args([*GLUE_OWN, "--onse", "true"])
    assert exit_.value.code == 2
    assert "--onse (did you mean --once?)" in capsys.readouterr().err


def test_unknown_flags_fail_under_spark_submit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--config", "c.yaml", "--enable-metrics", "true"], glue=False)
    assert exit_.value.code == 2
    assert "unrecognized arguments: --enable-metrics true" in capsys.readouterr().err


def test_a_flag_prefix_is_not_accepted_under_spark_submit() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--conf", "c.yaml"], glue=False)


def test_glue_is_detected_by_its_job_name_argument() -> None:
    assert running_on_glue(["--JOB_NAME", "cdc"])
    assert not running_on_glue(["--config", "c.yaml"])  # no awsglue here
    assert glue_session() is None


def test_config_loads_from_s3_and_s3a(bucket: str) -> None:
    config = load_config(f"s3://{bucket}/jobs/demo.yaml", ["target.path=s3://lake/cases"])
    assert config.name == "cases_demo"
    assert config.target.kind == "lake"
    assert load_config(f"s3a://{bucket}/jobs/demo.yaml") == load_config(DEMO)


def test_the_job_prints_a_config_from_s3_on_glue(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*GLUE_OWN, "--config", f"s3://{bucket}/jobs/demo.yaml", "--print-config", ""])
    assert code == 0
    assert "name: cases_demo" in capsys.readouterr().out


def test_a_missing_s3_config_names_the_url(bucket: str) -> None:
    with pytest.raises(ConfigError, match=rf"s3://{bucket}/jobs/nope.yaml .*NoSuchKey"):
        load_config(f"s3://{bucket}/jobs/nope.yaml")
    with pytest.raises(ConfigError, match=r"s3://no-such-bucket-x1/a.yaml .*NoSuchBucket"):
        load_config("s3://no-such-bucket-x1/a.yaml")
    with pytest.raises(ConfigError, match=r"expected s3://bucket/key\.yaml"):
        load_config(f"s3://{bucket}")


def test_the_job_requires_a_config_on_glue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--JOB_NAME", "cdc"]) == 2
    assert "--config is required on Glue" in capsys.readouterr().err


def test_the_redshift_secret_becomes_the_warehouse_password(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.delenv("TEST_WAREHOUSE_PASSWORD", raising=False)
    text = DEMO.read_text(encoding="utf-8").split("\ntarget:")[0] + (
        "\ntarget: {kind: redshift, dialect: postgres, host: 127.0.0.1, database: w,"
        " user: u, password_env: TEST_WAREHOUSE_PASSWORD}\nquarantine: {path: q}\n"
    )
    (tmp_path / "wh.yaml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "wh.yaml")
    secrets = boto3.client("secretsmanager")
    arn = secrets.create_secret(
        Name=f"wh-{uuid.uuid4().hex[:8]}",
        SecretString=json.dumps({"username": "u", "password": "s3cr3t-value"}),
    )["ARN"]
    with_secret = with_redshift_secret(config, arn)
    assert with_secret.warehouse_password().get_secret_value() == "s3cr3t-value"
    assert "TEST_WAREHOUSE_PASSWORD" not in os.environ  # held by the config, not exported
    with pytest.raises(ConfigError, match="ResourceNotFoundException") as missing:
        with_redshift_secret(config, arn + "-gone")
    assert "s3cr3t" not in str(missing.value)


def test_the_redshift_secret_needs_a_redshift_target() -> None:
    with pytest.raises(ConfigError, match=r"target\.kind is 'lake'"):
        with_redshift_secret(load_config(DEMO), "arn:aws:secretsmanager:us-east-1:1:secret:x")


def test_the_hmac_secret_becomes_the_tokenization_key(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    config = load_config(DEMO, ["privacy.hmac_key_env=TEST_HMAC_KEY"])
    monkeypatch.delenv("TEST_HMAC_KEY", raising=False)
    arn = boto3.client("secretsmanager").create_secret(
        Name=f"hmac-{uuid.uuid4().hex[:8]}", SecretString="k3y-value"
    )["ARN"]

    with_key = with_hmac_secret(config, arn)

    assert with_key.secrets.get("TEST_HMAC_KEY") is not None
    assert with_key.tokenization_key() == "k3y-value"
    with pytest.raises(ConfigError, match=r"--hmac-secret-arn .*ResourceNotFoundException") as gone:
        with_hmac_secret(config, arn + "-gone")
    assert "k3y" not in str(gone.value)

"""`python -m deploy glue` against moto's server (S3 and Glue) on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

import deploy.__main__ as cli
from deploy.glue_job import JobSpec, default_arguments
from deploy.package import GLUE_PROVIDED, additional_python_modules, build_zip

DEMO = Path(__file__).resolve().parents[2] / "conf" / "demo.yaml"
ROLE = "arn:aws:iam::123456789012:role/GlueCdc"


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    name = f"artifacts-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=name)
    return name


def deploy(endpoint: str, bucket: str, job: str, *extra: str) -> int:
    return cli.main(
        [
            "glue", "--config", str(DEMO), "--bucket", bucket, "--job-name", job,
            "--role", ROLE, "--endpoint-url", endpoint, *extra,
        ]
    )  # fmt: skip


def test_deploy_uploads_the_files_and_creates_the_job(
    moto_endpoint: str, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy(moto_endpoint, bucket, "cdc-a", "--connection", "vpc-a", "--workers", "3") == 0
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    prefix = "stream-cdc/cdc-a/"
    assert keys == {f"{prefix}stream_cdc.py", f"{prefix}stream_cdc.zip", f"{prefix}demo.yaml"}
    uploaded = s3.get_object(Bucket=bucket, Key=f"{prefix}stream_cdc.zip")["Body"].read()
    assert uploaded == build_zip()

    job = boto3.client("glue", endpoint_url=moto_endpoint).get_job(JobName="cdc-a")["Job"]
    assert job["Command"] == {
        "Name": "gluestreaming",
        "ScriptLocation": f"s3://{bucket}/{prefix}stream_cdc.py",
        "PythonVersion": "3",
    }
    assert (job["GlueVersion"], job["WorkerType"], job["NumberOfWorkers"]) == ("5.0", "G.1X", 3)
    assert job["Role"] == ROLE
    assert job["Connections"] == {"Connections": ["vpc-a"]}
    arguments = job["DefaultArguments"]
    assert arguments["--config"] == f"s3://{bucket}/{prefix}demo.yaml"
    assert arguments["--extra-py-files"] == f"s3://{bucket}/{prefix}stream_cdc.zip"
    assert arguments["--TempDir"] == f"s3://{bucket}/{prefix}temp/"
    assert "pydantic==" in arguments["--additional-python-modules"]
    assert arguments["--job-language"] == "python"
    assert arguments["--job-bookmark-option"] == "job-bookmark-disable"
    assert arguments["--enable-metrics"] == "true"
    assert arguments["--enable-continuous-cloudwatch-log"] == "true"
    assert "--redshift-secret-arn" not in arguments
    assert "created job cdc-a" in capsys.readouterr().out


class _GlueWithoutUpdateJob:
    """moto 5.2.5's server has no UpdateJob (it answers HTTP 500): this one call is
    recorded instead of sent; every other call reaches the server."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.updates: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def update_job(self, **params: Any) -> dict[str, Any]:
        self.updates.append(params)
        return {"JobName": params["JobName"]}


def test_a_second_deploy_updates_the_job_instead_of_failing(
    moto_endpoint: str,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert deploy(moto_endpoint, bucket, "cdc-b") == 0
    glue = _GlueWithoutUpdateJob(boto3.client("glue", endpoint_url=moto_endpoint))
    real_clients = cli._clients

    def clients(region: str | None, endpoint: str | None) -> Callable[[str], Any]:
        real = real_clients(region, endpoint)
        return lambda service: glue if service == "glue" else real(service)  # type: ignore[arg-type]

    monkeypatch.setattr(cli, "_clients", clients)
    assert deploy(moto_endpoint, bucket, "cdc-b", "--workers", "4", "--worker-type", "G.2X") == 0
    assert "updated job cdc-b" in capsys.readouterr().out
    [update] = glue.updates
    assert update["JobName"] == "cdc-b"
    assert update["JobUpdate"]["NumberOfWorkers"] == 4
    assert update["JobUpdate"]["WorkerType"] == "G.2X"
    assert update["JobUpdate"]["Command"]["Name"] == "gluestreaming"
    assert "Name" not in update["JobUpdate"]


def test_start_produces_a_job_run(
    moto_endpoint: str, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy(moto_endpoint, bucket, "cdc-c", "--start") == 0
    runs = boto3.client("glue", endpoint_url=moto_endpoint).get_job_runs(JobName="cdc-c")
    [run] = runs["JobRuns"]
    assert f"started run {run['Id']}" in capsys.readouterr().out


def test_dry_run_prints_every_call_and_makes_none(
    moto_endpoint: str,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(variable, raising=False)  # no credentials needed
    assert deploy(moto_endpoint, bucket, "cdc-d", "--start", "--dry-run") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "dry run: 7 calls, none made"
    assert [" ".join(line.split()[:2]) for line in lines[1:]] == [
        "s3 put_object",
        "s3 put_object",
        "s3 put_object",
        "glue get_job",
        "glue create_job",
        "glue update_job",
        "glue start_job_run",
    ]
    assert '"Key": "stream-cdc/cdc-d/stream_cdc.zip", "Body": "<' in lines[2]
    assert '"--config": "s3://' in lines[5]

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    glue = boto3.client("glue", endpoint_url=moto_endpoint, region_name="us-east-1")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_job(JobName="cdc-d")


def test_an_aws_error_names_the_call_and_exits_1(
    moto_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy(moto_endpoint, "no-such-bucket-zz", "cdc-e") == 1
    assert "error: s3 put_object: NoSuchBucket: " in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--workers", "0"], "--workers"),
        (["--worker-type", "G.3X"], "--worker-type"),
        (["--secret", "arn:aws:secretsmanager:us-east-1:123456789012:secret:wh"], "--secret"),
        (["--secret", "not-an-arn"], "--secret"),
        (["--hmac-secret", "not-an-arn"], "--hmac-secret"),
    ],
)
def test_bad_arguments_exit_2_naming_the_flag(
    extra: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        deploy("http://127.0.0.1:9", "artifacts", "cdc-f", "--dry-run", *extra)
    assert exit_.value.code == 2
    assert flag in capsys.readouterr().err.splitlines()[-1]


def test_a_bad_config_exits_2_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(
            [
                "glue", "--config", str(tmp_path / "none.yaml"), "--bucket", "artifacts",
                "--job-name", "j", "--role", ROLE, "--dry-run",
            ]
        )  # fmt: skip
    assert exit_.value.code == 2
    assert "--config: config file not found" in capsys.readouterr().err


def test_the_package_zip_is_deterministic_and_importable(tmp_path: Path) -> None:
    first, second = build_zip(), build_zip()
    assert first == second
    names = zipfile.ZipFile(BytesIO(first)).namelist()
    assert names == sorted(names)
    assert "config/job.py" in names and "jobs/stream_cdc.py" in names
    assert not [n for n in names if "__pycache__" in n or n.startswith("simulators/")]
    archive = tmp_path / "stream_cdc.zip"
    archive.write_bytes(first)
    probe = (
        f"import sys; sys.path.insert(0, {str(archive)!r}); "
        "import config.job, jobs.stream_cdc; "
        "print(config.job.__file__, jobs.stream_cdc.__file__)"
    )
    # -I: neither PYTHONPATH nor the working directory reach sys.path, only the zip
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == [f"{archive}/config/job.py", f"{archive}/jobs/stream_cdc.py"]


def test_glue_gets_the_pinned_libraries_it_lacks() -> None:
    modules = additional_python_modules()
    assert all("==" in m for m in modules)
    names = {m.split("==")[0].split("[")[0].lower() for m in modules}
    assert {"pydantic", "pyyaml"} <= names
    assert "pymysql" in names  # discovery through source.database (runtime/tables.py)
    assert "faker" not in names  # the simulators' only
    assert not names & GLUE_PROVIDED


def test_every_job_keeps_the_code_spark_compiles_as_the_jobs_own_sessions_do() -> None:
    """Glue starts the session before the job's code runs: its static settings must be
    job arguments (runtime/session.py sets the same where the job starts its session)."""
    arguments = default_arguments(JobSpec(DEMO, "b", "p/", "j", ROLE))
    assert arguments["--conf"] == "spark.sql.codegen.cache.maxEntries=2000"
    assert "--datalake-formats" not in arguments


def test_a_delta_target_gets_glues_delta_runtime() -> None:
    spec = JobSpec(
        DEMO, "b", "p/", "j", ROLE, delta=True, secret_arn="arn:x", hmac_secret_arn="arn:k"
    )
    arguments = default_arguments(spec)
    assert arguments["--datalake-formats"] == "delta"
    settings = dict(c.split("=", 1) for c in arguments["--conf"].split(" --conf "))
    assert settings == {
        "spark.sql.codegen.cache.maxEntries": "2000",  # as every job (runtime/session.py)
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    }
    assert arguments["--redshift-secret-arn"] == "arn:x"
    assert arguments["--hmac-secret-arn"] == "arn:k"


def iceberg_config(tmp_path: Path, **target: str) -> Path:
    """The demo's config with an Iceberg target on S3."""
    raw = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    raw["target"] = {"kind": "iceberg", **target}
    raw["aws"] = {"region": "eu-west-1"}
    path = tmp_path / "iceberg.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def dry_run_arguments(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, str], str]:
    """The DefaultArguments `python -m deploy glue --dry-run` would create the job with,
    and what it warned."""
    argv = ["glue", "--config", str(config), "--bucket", "bkt-a", "--job-name", "j"]
    assert cli.main([*argv, "--role", ROLE, "--dry-run"]) == 0
    printed = capsys.readouterr()
    [create] = [s for s in printed.out.splitlines() if s.startswith("glue create_job")]
    call = json.loads(create.split(" ", 2)[2].split("  # ")[0])
    return call["DefaultArguments"], printed.err


def test_an_iceberg_target_gets_glues_iceberg_runtime_and_its_glue_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = iceberg_config(tmp_path, catalog="glue", path="s3://bkt-w/iceberg", namespace="sales")

    arguments, _ = dry_run_arguments(config, capsys)

    assert arguments["--datalake-formats"] == "iceberg"  # Glue's own Iceberg: no jar uploaded
    settings = dict(c.split("=", 1) for c in arguments["--conf"].split(" --conf "))
    catalog = "spark.sql.catalog.iceberg"
    assert settings == {
        "spark.sql.codegen.cache.maxEntries": "2000",  # as every job (runtime/session.py)
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        catalog: "org.apache.iceberg.spark.SparkCatalog",
        f"{catalog}.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
        f"{catalog}.warehouse": "s3://bkt-w/iceberg",
        f"{catalog}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{catalog}.client.region": "eu-west-1",
    }


def test_an_iceberg_hadoop_catalog_on_glue_is_deployed_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = iceberg_config(tmp_path, path="s3://bkt-w/iceberg")

    arguments, warned = dry_run_arguments(config, capsys)

    assert "spark.sql.catalog.iceberg.type=hadoop" in arguments["--conf"]
    assert "warning: target.catalog is 'hadoop'" in warned

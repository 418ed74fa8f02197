"""The AWS calls that deploy the job to Glue, as data first, then run or printed.

`plan()` returns every call in order (uploads, the job definition, the run);
`execute()` makes them with boto3 clients and decides create vs update by asking
Glue whether the job exists; a dry run prints the same plan and makes none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aws import AWS_ERRORS, describe, error_code
from deploy.package import additional_python_modules, build_zip
from runtime.session import COMPILED_CODE
from sinks.iceberg.conf import SQL_EXTENSIONS

__all__ = [
    "Call",
    "DeployError",
    "JobSpec",
    "Service",
    "default_arguments",
    "execute",
    "plan",
]

SCRIPT = Path(__file__).resolve().parent.parent / "jobs" / "stream_cdc.py"
GLUE_VERSION = "5.0"

# Delta on Glue 5.0: Delta's SQL extension and catalog, which must be set before the
# session starts (Glue starts it, not the job), beside the runtime's Delta Lake jars
# (`--datalake-formats`).
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def _iceberg_conf(catalog_conf: Mapping[str, str]) -> dict[str, str]:
    """Iceberg on Glue 5.0 (the runtime's own Iceberg 1.7.1, with GlueCatalog and S3FileIO:
    no jar to upload): Iceberg's SQL extension (static: set before Glue starts the session)
    and the target's Spark catalog (sinks/iceberg/conf.py; the job would add the same at
    run time, `IcebergCatalog.register`). A job has one target, so never Delta's too."""
    return {"spark.sql.extensions": SQL_EXTENSIONS, **catalog_conf}


def _spark_conf(settings: Mapping[str, str]) -> str:
    """Glue's one `--conf` argument: the first setting's value, the others after it, each
    behind its own ` --conf `."""
    return " --conf ".join(f"{key}={value}" for key, value in settings.items())


Service = Literal["s3", "glue"]


class DeployError(RuntimeError):
    """An AWS call failed; the message names the call and carries AWS's message."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class JobSpec:
    """What `python -m deploy glue` was asked to deploy."""

    config: Path
    bucket: str
    prefix: str
    job_name: str
    role: str
    worker_type: str = "G.1X"
    workers: int = 2
    connections: tuple[str, ...] = ()
    secret_arn: str | None = None
    hmac_secret_arn: str | None = None
    delta: bool = False
    # An Iceberg target's Spark catalog settings (sinks/iceberg/conf.py); None: no Iceberg.
    iceberg: Mapping[str, str] | None = None

    def key(self, name: str) -> str:
        return f"{self.prefix}{self.job_name}/{name}"

    def url(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"


@dataclass(frozen=True)
class Call:
    """One boto3 call: `client(service).<operation>(**params)`; `when` says if conditional."""

    service: Service
    operation: str
    params: dict[str, Any]
    when: str = ""
    result: Callable[[dict[str, Any]], str] | None = field(default=None, compare=False)

    def describe(self) -> str:
        text = f"{self.service} {self.operation} {json.dumps(_printable(self.params))}"
        return f"{text}  # {self.when}" if self.when else text


def default_arguments(spec: JobSpec) -> dict[str, str]:
    """The job's DefaultArguments: what the script reads, and Glue's own settings."""
    arguments = {
        "--config": spec.url(spec.config.name),
        "--extra-py-files": spec.url("stream_cdc.zip"),
        "--additional-python-modules": ",".join(additional_python_modules()),
        "--job-language": "python",
        # Streaming jobs keep Structured Streaming checkpoints, not bookmarks.
        "--job-bookmark-option": "job-bookmark-disable",
        "--enable-metrics": "true",
        "--enable-continuous-cloudwatch-log": "true",
        "--TempDir": spec.url("temp/"),
    }
    if spec.secret_arn:
        arguments["--redshift-secret-arn"] = spec.secret_arn
    if spec.hmac_secret_arn:
        arguments["--hmac-secret-arn"] = spec.hmac_secret_arn
    # Static settings: Glue starts the session, so they go in its `--conf`.
    conf = dict(COMPILED_CODE)
    if spec.delta:
        arguments["--datalake-formats"] = "delta"
        conf.update(DELTA_CONF)
    if spec.iceberg is not None:
        arguments["--datalake-formats"] = "iceberg"
        conf.update(_iceberg_conf(spec.iceberg))
    arguments["--conf"] = _spark_conf(conf)
    return arguments


def job_definition(spec: JobSpec) -> dict[str, Any]:
    """The fields CreateJob and UpdateJob (its JobUpdate) share."""
    definition: dict[str, Any] = {
        "Description": "stream-cdc: database changes applied by Spark Structured Streaming",
        "Role": spec.role,
        "Command": {
            "Name": "gluestreaming",
            "ScriptLocation": spec.url(SCRIPT.name),
            "PythonVersion": "3",
        },
        "GlueVersion": GLUE_VERSION,
        "WorkerType": spec.worker_type,
        "NumberOfWorkers": spec.workers,
        # A failed run is not retried by Glue: the job's own batch retries have given up,
        # and a person should read why before the next run.
        "MaxRetries": 0,
        # One writer per checkpoint: a second concurrent run would fight over it.
        "ExecutionProperty": {"MaxConcurrentRuns": 1},
        "DefaultArguments": default_arguments(spec),
    }
    if spec.connections:
        definition["Connections"] = {"Connections": list(spec.connections)}
    return definition


def plan(spec: JobSpec, *, start: bool, package: bytes | None = None) -> list[Call]:
    """Every call of a deploy, in order; create_job and update_job are alternatives."""
    package = build_zip() if package is None else package
    uploads = [
        (SCRIPT.name, SCRIPT.read_bytes()),
        ("stream_cdc.zip", package),
        (spec.config.name, spec.config.read_bytes()),
    ]
    calls = [
        Call("s3", "put_object", {"Bucket": spec.bucket, "Key": spec.key(name), "Body": body})
        for name, body in uploads
    ]
    definition = job_definition(spec)
    calls += [
        Call("glue", "get_job", {"JobName": spec.job_name}),
        Call(
            "glue",
            "create_job",
            {"Name": spec.job_name, **definition},
            when="if get_job found no job",
            result=lambda r: f"created job {r['Name']}",
        ),
        Call(
            "glue",
            "update_job",
            {"JobName": spec.job_name, "JobUpdate": definition},
            when="if get_job found the job",
            result=lambda r: f"updated job {r['JobName']}",
        ),
    ]
    if start:
        calls.append(
            Call(
                "glue",
                "start_job_run",
                {"JobName": spec.job_name},
                result=lambda r: f"started run {r['JobRunId']}",
            )
        )
    return calls


def execute(calls: list[Call], client: Callable[[Service], Any]) -> Iterator[str]:
    """Make the calls (create_job or update_job, as get_job says), a line per change."""
    exists = False
    for call in calls:
        if call.operation == "get_job":
            exists = _job_exists(call, client)
            continue
        if (call.operation == "create_job" and exists) or (
            call.operation == "update_job" and not exists
        ):
            continue
        try:
            response = _make(call, client)
        except DeployError as exc:
            if call.operation == "create_job" and exc.code == "AlreadyExistsException":
                exists = True  # created meanwhile by someone else: update it instead
                continue
            raise
        if call.service == "s3":
            yield f"uploaded s3://{call.params['Bucket']}/{call.params['Key']}"
        elif call.result is not None:
            yield call.result({**call.params, **response})


def _job_exists(call: Call, client: Callable[[Service], Any]) -> bool:
    try:
        _make(call, client)
    except DeployError as exc:
        if exc.code == "EntityNotFoundException":
            return False
        raise
    return True


def _make(call: Call, client: Callable[[Service], Any]) -> dict[str, Any]:
    try:
        response: dict[str, Any] = getattr(client(call.service), call.operation)(**call.params)
    except AWS_ERRORS as exc:  # refused, or no credentials, region or endpoint
        message = f"{call.service} {call.operation}: {describe(exc)}"
        raise DeployError(message, error_code(exc) or "") from None
    return response


def _printable(value: Any) -> Any:
    if isinstance(value, bytes):
        digest = hashlib.sha256(value).hexdigest()
        return f"<{len(value)} bytes, sha256 {digest}>"
    if isinstance(value, dict):
        return {k: _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value

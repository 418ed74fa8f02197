"""One SparkSession for the whole suite, configured like the job's."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

import pytest
from pyspark.sql import SparkSession

from local.aws_servers import LOCAL_ENV, Server, start_kinesis, start_moto
from runtime.session import DELTA_SQL, SETTINGS
from sinks.redshift.engine import ConnectionSettings
from tests.postgres import postgres_server


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    # Python workers must use this interpreter (the venv), whatever launched pytest.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("stream-cdc-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "4")
        .config("spark.driver.memory", "2g")
    )
    jars = os.environ.get("STREAM_CDC_JARS")
    if jars:
        builder = builder.config("spark.jars", jars)
    for key, value in {**DELTA_SQL, **SETTINGS}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[ConnectionSettings]:
    """A real PostgreSQL server on loopback for the whole session."""
    with postgres_server() as settings:
        yield settings


@pytest.fixture(scope="session")
def aws_env() -> Iterator[dict[str, str]]:
    """Credentials and region the local AWS-API servers accept, set for the session."""
    saved = {k: os.environ.get(k) for k in LOCAL_ENV}
    os.environ.update(LOCAL_ENV)
    yield dict(LOCAL_ENV)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _server(
    start: Callable[..., Server], factory: pytest.TempPathFactory, name: str
) -> Iterator[str]:
    server = start(log_dir=factory.mktemp(name))
    yield server.endpoint
    server.stop()


@pytest.fixture(scope="session")
def moto_endpoint(
    aws_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """moto's server on loopback (S3, Glue, Secrets Manager, Redshift Data API, IAM, STS)."""
    yield from _server(start_moto, tmp_path_factory, "moto")


@pytest.fixture(scope="session")
def kinesis_endpoint(
    aws_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A Kinesis Data Streams API server (kinesis-mock) on loopback."""
    yield from _server(start_kinesis, tmp_path_factory, "kinesis")

"""One SparkSession for the whole suite, configured like the job's; markers by need.

Every test is marked by what it needs (pyproject.toml lists the markers), so a developer
can run the suite in pieces (`make test-fast` runs what needs no server):
  e2e       runs the whole job (tests/e2e, tests/crash)
  crash     kills the job (tests/crash)
  stack     the local stack: MariaDB, Kafka, Debezium (module marks)
  aws       the local AWS-API servers (moto, kinesis-mock), by fixture
  postgres  a throwaway PostgreSQL, by fixture
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

import pytest
from pyspark.sql import SparkSession

from local.aws_servers import LOCAL_ENV, Server, start_kinesis, start_moto
from runtime.session import local_session
from sinks.redshift import ConnectionSettings
from tests.postgres import postgres_server

_BY_FIXTURE = {"postgres": "postgres", "moto_endpoint": "aws", "kinesis_endpoint": "aws"}
_BY_FOLDER = {"e2e": ("e2e",), "crash": ("e2e", "crash")}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, marker in _BY_FIXTURE.items():
            if fixture in names:
                item.add_marker(marker)
        folder = item.path.parent.name
        for marker in _BY_FOLDER.get(folder, ()):
            item.add_marker(marker)


# The tests' batches are tiny: what costs is per-query overhead, not data. Measured on
# the contract suite (2 cores), these cut its time by about a sixth; none changes what
# a query computes (the job keeps Spark's defaults for them; the e2e tests run it as is).
# Without adaptive execution, as the job itself (runtime/session.py SETTINGS).
_SMALL_DATA = {
    "spark.sql.codegen.wholeStage": "false",  # no Java compiled for a query run once
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",  # nor for an expression: interpreted
    "spark.databricks.delta.snapshotPartitions": "1",  # a table's log state in one task
}


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    # Python workers must use this interpreter (the venv), whatever launched pytest.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = local_session("stream-cdc-tests", shuffle_partitions=2, extra=_SMALL_DATA)
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

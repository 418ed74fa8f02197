"""One SparkSession for the whole suite, configured like the job's."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

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

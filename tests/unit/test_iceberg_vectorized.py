"""Iceberg's vectorized reads turned off where the session's Iceberg and Spark crashed
(sinks/iceberg/vectorized.py), and only there."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from pyspark.sql import SparkSession

from sinks.iceberg.catalog import IcebergCatalog
from sinks.iceberg.vectorized import VECTORIZATION, guard_vectorized_reads, vectorized_reads_crash


@pytest.mark.parametrize(
    ("iceberg", "spark", "crash"),
    [
        ("1.7.1", "3.5.4", True),
        ("1.7.1-amzn-0", "3.5.4-amzn-0", True),
        ("1.6.1", "3.5.5", True),
        ("1.7.1", "3.5.3", False),
        ("1.7.2", "3.5.4", False),
        ("1.8.1", "3.5.4", False),
        ("1.10.0", "3.5.6", False),
        ("unknown", "3.5.4", False),
        ("1.7.1", "", False),
    ],
)
def test_only_iceberg_before_1_7_2_under_spark_3_5_4_or_later_is_judged_to_crash(
    iceberg: str, spark: str, crash: bool
) -> None:
    assert vectorized_reads_crash(iceberg, spark) is crash


@pytest.fixture()
def session(spark: SparkSession) -> SparkSession:
    return spark.newSession()  # SQL settings of its own


def reporting(monkeypatch: pytest.MonkeyPatch, session: SparkSession, iceberg: str) -> None:
    """The session's Iceberg says it is `iceberg`, its Spark 3.5.4."""
    build = SimpleNamespace(version=lambda: iceberg)
    jvm = SimpleNamespace(
        org=SimpleNamespace(apache=SimpleNamespace(iceberg=SimpleNamespace(IcebergBuild=build)))
    )
    monkeypatch.setattr(session.sparkContext, "_jvm", jvm)
    monkeypatch.setattr(SparkSession, "version", property(lambda _: "3.5.4"))


def test_the_pinned_iceberg_keeps_its_vectorized_reads(session: SparkSession) -> None:
    assert not guard_vectorized_reads(session)  # the real jar's version
    assert session.conf.get(VECTORIZATION, None) is None


def test_a_crashing_pair_turns_vectorized_reads_off_once_with_one_warning(
    session: SparkSession, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    reporting(monkeypatch, session, "1.7.1")
    with caplog.at_level(logging.WARNING, logger="stream_cdc"):
        assert guard_vectorized_reads(session)
        assert not guard_vectorized_reads(session)  # once set, left as it is
    assert session.conf.get(VECTORIZATION) == "false"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Iceberg 1.7.1 under Spark 3.5.4" in warnings[0]


def test_a_sessions_own_setting_is_kept(
    session: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    session.conf.set(VECTORIZATION, "true")
    reporting(monkeypatch, session, "1.7.1")
    assert not guard_vectorized_reads(session)
    assert session.conf.get(VECTORIZATION) == "true"


def test_defining_the_catalog_applies_the_guard(
    session: SparkSession, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    reporting(monkeypatch, session, "1.7.1")
    IcebergCatalog("guarded", "db").define(session, str(tmp_path))
    assert session.conf.get(VECTORIZATION) == "false"


def test_a_runtime_without_icebergs_build_class_is_left_alone(
    session: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = session.sparkContext._jvm
    assert real is not None
    missing = real.org.apache.iceberg.NoSuchBuildClass  # what py4j gives for a missing class
    reporting(monkeypatch, session, "1.7.1")
    stub = SimpleNamespace(iceberg=SimpleNamespace(IcebergBuild=missing))
    monkeypatch.setattr(
        session.sparkContext, "_jvm", SimpleNamespace(org=SimpleNamespace(apache=stub))
    )
    assert not guard_vectorized_reads(session)
    assert session.conf.get(VECTORIZATION, None) is None

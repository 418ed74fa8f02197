"""The demo pipeline with its target switched to the warehouse (PostgreSQL), nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from config.load import load_config
from runtime.runner import run
from simulators.cases import generate
from sinks.redshift import ConnectionSettings
from tests.e2e.test_demo_job import expected_row

REPO = Path(__file__).resolve().parents[2]


def test_demo_into_the_warehouse_equals_the_expected_state(
    spark: SparkSession,
    postgres: ConnectionSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reference = generate(tmp_path / "landing", cdc_files=3, changes_per_file=100)
    monkeypatch.setenv("WAREHOUSE_PASSWORD", postgres.password)
    config = load_config(
        REPO / "conf" / "demo.yaml",
        [
            f"source.path={tmp_path / 'landing'}",
            f"checkpoint={tmp_path / 'checkpoint'}",
            f"quarantine.path={tmp_path / 'quarantine'}",
            f"target={{kind: redshift, dialect: postgres, host: {postgres.host}, "
            f"port: {postgres.port}, database: {postgres.database}, user: {postgres.user}, "
            "password_env: WAREHOUSE_PASSWORD, schema: demo}",
        ],
    )

    outcome = run(spark, config, once=True)

    assert not outcome.errors
    assert outcome.tables[0].quarantined == reference.bad_records
    expected = {key: expected_row(raw) for key, raw in reference.final_rows.items()}
    with postgres.connect() as conn:
        cur = conn.cursor()
        cur.execute("SELECT * FROM demo.cases")
        names = [d.name for d in cur.description]
        actual = {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}
        cur.execute("SELECT COUNT(*) FROM demo.cases__cdc_keys WHERE _deleted")
        tombstones = cur.fetchone()[0]
    assert actual.keys() == expected.keys()
    assert [k for k in expected if actual[k] != expected[k]] == []
    assert tombstones > 0

"""The real job through spark-submit.sh, checked against an independent expectation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads

from simulators.cases import generate
from tests.e2e.launch import JOB, REPO, run_job


def expected_row(raw: dict[str, str | None]) -> dict[str, Any]:
    """The seed's transformations, written again in plain Python."""

    def num(value: str | None, kind: type) -> Any:
        return None if value is None else kind(value)

    day = datetime.strptime(str(raw["date"]), "%m/%d/%Y").date()
    runtime = datetime.strptime(str(raw["prep_flow_runtime"]), "%m/%d/%Y %I:%M:%S %p")
    return {
        "oid__id": raw["oid__id"],
        "case_type": raw["case_type"],
        "cases": num(raw["cases"], int),
        "difference": num(raw["difference"], int),
        "date": day,
        "country_region": raw["country_region"],
        "province_state": raw["province_state"],
        "admin2": raw["admin2"],
        "combined_key": raw["combined_key"],
        "lat": num(raw["lat"], float),
        "long": num(raw["long"], float),
        "prep_flow_runtime": runtime,
        "fips": num(raw["fips"], int),
        "year": day.year,
        "month": day.month,
        "day": day.day,
        "is_death": int(raw["case_type"] == "Deaths"),
        "is_confirmed": int(raw["case_type"] == "Confirmed"),
    }


def lake_rows(path: Path) -> dict[str, dict[str, Any]]:
    table = pads.dataset(str(path), format="parquet", partitioning="hive").to_table()
    rows: dict[str, dict[str, Any]] = {}
    for row in table.to_pylist():
        runtime = row["prep_flow_runtime"]
        row["prep_flow_runtime"] = runtime.replace(tzinfo=None) if runtime else None
        assert isinstance(row["date"], date)
        assert row["oid__id"] not in rows, "a key appears twice in the lake"
        rows[row["oid__id"]] = row
    return rows


def test_demo_lake_equals_the_independently_computed_most_recent_state(tmp_path: Path) -> None:
    first = run_job(tmp_path)
    assert first.returncode == 0, first.stderr[-4000:]

    reference = generate(tmp_path / "reference")  # same default seed as the demo
    expected = {key: expected_row(raw) for key, raw in reference.final_rows.items()}
    lake = tmp_path / "work" / "demo" / "lake" / "cases"
    actual = lake_rows(lake)
    assert actual.keys() == expected.keys()
    mismatched = [k for k in expected if actual[k] != expected[k]]
    assert not mismatched, f"{len(mismatched)} rows differ"

    assert f"rows in the table    {len(expected)}" in first.stdout
    assert f"rows quarantined     {reference.bad_records}" in first.stdout
    quarantined = [
        json.loads(line)
        for f in (tmp_path / "work" / "demo" / "quarantine" / "cases").rglob("*.json")
        for line in f.read_text().splitlines()
    ]
    assert len(quarantined) == reference.bad_records
    assert all(q["reason"] and q["raw_record"] and q["source_file"] for q in quarantined)

    # No row value in any log line: keys, names and numbers stay in the lake.
    logs = first.stdout + first.stderr
    leaked = [k for k in expected if k in logs]
    assert not leaked, f"{len(leaked)} keys leaked into logs"
    assert "py4j" not in logs, "the log shows the job, not its plumbing"

    second = run_job(tmp_path)
    assert second.returncode == 0, second.stderr[-4000:]
    assert lake_rows(lake) == actual
    assert "0 batch(es)" in second.stdout


def test_print_config_shows_the_effective_config_and_starts_nothing() -> None:
    result = subprocess.run(
        [sys.executable, str(JOB), "--print-config", "--set", "target.path=/elsewhere"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "path: /elsewhere" in result.stdout
    assert "partition_by:" in result.stdout


def test_bad_config_fails_before_spark_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (REPO / "conf" / "demo.yaml").read_text().replace("keys: [oid__id]", "kyes: [oid__id]")
    bad.write_text(text)
    result = subprocess.run(
        [sys.executable, str(JOB), "--config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert result.returncode == 2
    assert "tables.0.kyes: unknown key" in result.stderr
    # keys may be left out (discovered from the source), so the typo is the one error
    assert result.stderr.count("\n  tables.") == 1, result.stderr
    assert "SparkSession" not in result.stderr

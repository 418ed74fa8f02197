"""The real job through spark-submit.sh, checked against an independent expectation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads

from simulators.cases import generate

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "spark-submit.sh"
JOB = REPO / "jobs" / "stream_cdc.py"


def run_job(
    cwd: Path, *args: str, timeout: int = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LAUNCHER), str(JOB), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
        env={**os.environ, **(env or {})},
    )


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


def test_driver_killed_mid_publish_leaves_a_readable_lake_and_restarts_exactly(
    tmp_path: Path,
) -> None:
    """The demo killed while its commit is half published: readers still read the lake.

    Every crash point, this one included, is also killed with SIGKILL by the crash
    harness (tests/crash); what this test adds is the read between crash and restart.
    """
    # The demo's table and config on a smaller stream: the first batch still publishes
    # dozens of partitions, and the job is started twice.
    landing = tmp_path / "landing"
    reference = generate(landing, initial_rows=300, cdc_files=2, changes_per_file=100)
    args = (
        "--config",
        str(REPO / "conf" / "demo.yaml"),
        "--set",
        f"source.path={landing}",
        "--once",
    )
    killed = run_job(tmp_path, *args, env={"STREAM_CDC_CRASH_AT": "lake.mid_publish"})
    assert killed.returncode != 0, "the crash point did not fire"
    lake = tmp_path / "work" / "demo" / "lake" / "cases"
    if lake.exists():
        pads.dataset(str(lake), format="parquet", partitioning="hive").to_table()  # readable

    restarted = run_job(tmp_path, *args)
    assert restarted.returncode == 0, restarted.stderr[-4000:]
    expected = {key: expected_row(raw) for key, raw in reference.final_rows.items()}
    assert lake_rows(lake) == expected


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


def test_running_stream_picks_up_new_files_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    source = tmp_path / "generated"
    reference = generate(source, cdc_files=3, changes_per_file=50, bad_records=0)
    landing = tmp_path / "landing"
    later = reference.files[-2:]
    for file in reference.files[:-2]:
        _deliver(file, landing / "public" / "cases")
    args = [
        str(LAUNCHER),
        str(JOB),
        "--config",
        str(REPO / "conf" / "demo.yaml"),
        "--set",
        f"source.path={landing}",
        "--set",
        "trigger_interval=1 second",
    ]
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    lake = tmp_path / "work" / "demo" / "lake" / "cases"
    try:
        assert _wait_for((lake / "_cdc" / "manifest").exists, 300), "no batch ran"
        for file in later:
            _deliver(file, landing / "public" / "cases")
        assert _wait_for(lambda: _rows(lake) == len(reference.final_rows), 300), "new files unseen"
        time.sleep(2)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == 0, err[-4000:]
    assert "stop requested" in out + err
    assert f"rows in the table    {len(reference.final_rows)}" in out


def _deliver(file: Path, folder: Path) -> None:
    """Land a file the way an uploader should: whole, under its final name at once."""
    folder.mkdir(parents=True, exist_ok=True)
    hidden = folder / f".{file.name}.tmp"
    hidden.write_bytes(file.read_bytes())
    hidden.rename(folder / file.name)


def _rows(lake: Path) -> int:
    manifests = sorted((lake / "_cdc" / "manifest").glob("*.json"))
    if not manifests:
        return -1
    partitions = json.loads(manifests[-1].read_text())["partitions"]
    return sum(int(p["rows"]) for p in partitions.values())


def _wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except (OSError, ValueError):
            pass
        time.sleep(1)
    return False

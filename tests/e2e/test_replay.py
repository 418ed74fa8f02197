"""Quarantine replay end to end: the real job quarantines poison records, the operator
corrects them in a file, `replay` applies them through each engine, twice (idempotent),
and a correction older than what the target holds changes nothing (stale)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from config import JobConfig, RedshiftTarget
from config.secrets import read_secrets
from jobs.replay import main as replay_main
from runtime.replay import Selection, replay
from runtime.runner import run
from sinks.redshift import ConnectionSettings

ENGINES = ["lake", "delta", "warehouse"]
POSTGRES: list[ConnectionSettings] = []  # the session's server, once a test asked for it


def job(tmp_path: Path, engine: str, request: pytest.FixtureRequest) -> JobConfig:
    target: dict[str, Any] = {"kind": engine, "path": str(tmp_path / "lake")}
    if engine == "warehouse":
        pg = request.getfixturevalue("postgres")
        POSTGRES[:] = [pg]
        target = {
            "kind": "redshift",
            "dialect": "postgres",
            "host": pg.host,
            "port": pg.port,
            "database": pg.database,
            "user": pg.user,
            "password_env": "REPLAY_TEST_PASSWORD",
            "schema": f"replay_{tmp_path.name[-12:].lower().replace('-', '_')}",
        }
        request.getfixturevalue("monkeypatch").setenv("REPLAY_TEST_PASSWORD", pg.password)
    config = JobConfig.model_validate(
        {
            "name": "replay",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": {"path": str(tmp_path / "landing"), "format": "dms-json"},
            "tables": [
                {
                    "name": "orders",
                    "source_schema": "shop",
                    "keys": ["id"],
                    "columns": [
                        {"name": "id", "type": "bigint"},
                        {"name": "item", "type": "string"},
                        {"name": "qty", "type": "int"},
                    ],
                }
            ],
            "target": target,
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )
    return config.with_secrets(read_secrets(config.secret_variables, os.environ))


def record(op: str, data: dict[str, Any]) -> str:
    metadata = {"record-type": "data", "operation": op, "schema-name": "shop"}
    return json.dumps({"data": data, "metadata": {**metadata, "table-name": "orders"}})


def rows(spark: SparkSession, config: JobConfig, tmp_path: Path) -> set[tuple[Any, ...]]:
    kind = config.target.kind
    if kind == "lake":
        table = pads.dataset(str(tmp_path / "lake" / "orders"), format="parquet").to_table()
        return {(r["id"], r["item"], r["qty"]) for r in table.to_pylist()}
    if kind == "delta":
        df = spark.read.format("delta").load(str(tmp_path / "lake" / "orders"))
        return {(r["id"], r["item"], r["qty"]) for r in df.collect()}
    assert isinstance(config.target, RedshiftTarget)
    with POSTGRES[0].connect() as conn:
        cur = conn.cursor()
        cur.execute(f"SELECT id, item, qty FROM {config.target.db_schema}.orders")
        return {tuple(r) for r in cur.fetchall()}


def version(spark: SparkSession, config: JobConfig, tmp_path: Path) -> int | None:
    """The Delta table's last commit (None on other engines)."""
    if config.target.kind != "delta":
        return None
    history = spark.sql(f"DESCRIBE HISTORY delta.`{tmp_path / 'lake' / 'orders'}`")
    return int(history.agg(F.max("version")).collect()[0][0])


def quarantined(tmp_path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for f in sorted((tmp_path / "quarantine" / "orders").rglob("*.json"))
        for line in f.read_text().splitlines()
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_corrected_records_replay_once_and_never_overwrite_a_newer_change(
    spark: SparkSession, tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    config = job(tmp_path, engine, request)
    landing = tmp_path / "landing" / "shop" / "orders"
    landing.mkdir(parents=True)
    first = [
        record("insert", {"id": 1, "item": "pen", "qty": 1}),
        record("insert", {"id": 2, "item": "ink", "qty": 2}),
        record("update", {"id": 1, "item": "pen", "qty": "many"}),  # poison
        record("update", {"id": 2, "item": "ink", "qty": "lots"}),  # poison, then superseded
        record("insert", {"id": 3, "item": "cap", "qty": "three"}),  # poison
        '{"data": {"id": 4, "item": "trunc',  # poison the operator cannot fix
    ]
    (landing / "20210816-060501000.json").write_text("\n".join(first) + "\n")
    (landing / "20210816-060502000.json").write_text(
        record("update", {"id": 2, "item": "ink", "qty": 20}) + "\n"
    )

    outcome = run(spark, config, once=True)

    assert not outcome.errors
    assert rows(spark, config, tmp_path) == {(1, "pen", 1), (2, "ink", 20)}
    entries = quarantined(tmp_path)
    assert len(entries) == 4 and all(e["position"] for e in entries)

    fixes = {'"many"': "9", '"lots"': "5", '"three"': "3"}
    corrected = tmp_path / "corrected.jsonl"
    with corrected.open("w") as out:
        for entry in entries:
            for bad, good in fixes.items():
                entry["raw_record"] = entry["raw_record"].replace(bad, good)
            out.write(json.dumps(entry) + "\n")

    report = replay(spark, config, Selection(file=str(corrected)))

    (orders,) = report.tables
    assert (orders.selected, orders.upserts, orders.deletes) == (4, 2, 0)
    assert orders.stale == 1, "key 2's correction is older than the update of the next file"
    assert orders.rejected == {"malformed JSON record": 1}
    assert report.exit_code == 1
    after_first = rows(spark, config, tmp_path)
    assert after_first == {(1, "pen", 9), (2, "ink", 20), (3, "cap", 3)}
    committed = version(spark, config, tmp_path)

    again = replay(spark, config, Selection(file=str(corrected)))

    (orders,) = again.tables
    assert (orders.selected, orders.already_replayed, orders.upserts) == (1, 3, 0)
    assert orders.rejected == {"malformed JSON record": 1}
    assert rows(spark, config, tmp_path) == after_first
    assert version(spark, config, tmp_path) == committed, "no commit the second time"

    everything = replay(spark, config, Selection())  # the quarantine itself: all resolved
    assert [(t.selected, t.already_replayed) for t in everything.tables] == [(1, 3)]

    # The ledger lost (a replay interrupted after its commit): the same input is the same
    # writer, whose batch every engine refuses to apply twice.
    shutil.rmtree(tmp_path / "quarantine" / "_replay")
    rerun = replay(spark, config, Selection(file=str(corrected)))
    assert rerun.replay_id == report.replay_id
    assert rerun.tables[0].committed_before
    assert rows(spark, config, tmp_path) == after_first
    assert version(spark, config, tmp_path) == committed


def test_replay_command_reports_counts_without_row_values(
    spark: SparkSession,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = job(tmp_path, "lake", request)
    landing = tmp_path / "landing" / "shop" / "orders"
    landing.mkdir(parents=True)
    lines = [
        record("insert", {"id": 1, "item": "secret-pen", "qty": 1}),
        record("insert", {"id": 2, "item": "secret-ink", "qty": "twelve"}),
    ]
    (landing / "20210816-060501000.json").write_text("\n".join(lines) + "\n")
    assert not run(spark, config, once=True).errors
    conf = tmp_path / "job.yaml"
    conf.write_text(json.dumps(config.model_dump(mode="json", exclude_none=True)))
    monkeypatch.setattr(spark, "stop", lambda: None)  # the suite's session lives on

    dry = replay_main(["--config", str(conf), "--dry-run", "--json"])
    assert dry == 1
    body = json.loads(capsys.readouterr().out)
    assert body["dry_run"] and body["tables"][0]["rejected"] == {"column qty: not a valid int": 1}
    assert rows(spark, config, tmp_path) == {(1, "secret-pen", 1)}

    assert replay_main(["--config", str(conf), "--reason", "not a valid"]) == 1
    text = capsys.readouterr().out
    assert "still rejected: column qty: not a valid int" in text
    assert "secret" not in text and "twelve" not in text

    assert replay_main(["--config", str(conf), "--table", "nope"]) == 2
    assert replay_main(["--config", str(conf), "--file", str(tmp_path / "missing.jsonl")]) == 2
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    assert replay_main(["--config", str(conf), "--file", str(tmp_path / "bad.jsonl")]) == 2
    assert "secret" not in capsys.readouterr().err

    # A failure on the way (the target is a file): one line and exit 3, nothing recorded.
    (entry,) = quarantined(tmp_path)
    entry["raw_record"] = entry["raw_record"].replace('"twelve"', "12")
    corrected = tmp_path / "corrected.jsonl"
    corrected.write_text(json.dumps(entry) + "\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the target folder should be\n")
    blocked = ["--set", f"target.path={blocker}/lake", "--file", str(corrected)]
    assert replay_main(["--config", str(conf), *blocked]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: replay failed: ") and err.count("\n") == 1, err
    assert "secret" not in err and "Traceback" not in err
    assert replay_main(["--config", str(conf), "--file", str(corrected)]) == 0
    assert rows(spark, config, tmp_path) == {(1, "secret-pen", 1), (2, "secret-ink", 12)}

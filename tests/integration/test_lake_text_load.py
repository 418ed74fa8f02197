"""New lake tables staged together by one Spark job (sinks/lake/text_load.py) against each
table applied by its own engine: the same DMS CSV batches through the job's batch handler
into a Parquet lake, once each way. The published rows, key indexes, manifests' figures,
Parquet types, quarantine and counts must be the same, and so must every later batch,
which reads the files the tasks wrote. A crash anywhere between the staging and the last
table's commit converges once the batch is replayed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from config import JobConfig
from runtime.batch import SourceBatch
from sinks.crash import SimulatedCrashError
from sinks.lake import LakeEngine
from sinks.lake import text_load as text_load_module
from sinks.storage import Storage
from tests.handler import source_handler
from tests.integration.test_shared_decoding import (
    FIRST,
    LOAD,
    TABLES,
    WAVES,
    _counts,
    _lines,
    _quarantine,
    job_config,
    land,
)
from transforms.names import DELETED_AT, POS


def _config(
    tmp_path: Path,
    parts: dict[str, list[str]],
    keys: dict[str, list[str]] | None = None,
    lake: str | None = None,
) -> JobConfig:
    """The lake's job (under `lake`, a folder of `tmp_path` by default), its tables
    partitioned by `parts` and keyed by `keys` where given."""
    tables = [
        {
            "name": name,
            "keys": (keys or {}).get(name, table_keys),
            "columns": [{"name": n, "type": k} for n, k in columns],
            "partition_by": parts.get(name, []),
            **extra,
        }
        for name, (columns, table_keys, extra) in TABLES.items()
    ]
    target = {"kind": "lake", "path": lake or str(tmp_path / "lake")}
    return job_config(tmp_path, target, tables)


def _run(
    spark: SparkSession,
    tmp_path: Path,
    seed: int,
    waves: list[dict[str, list[str]]],
    *,
    parts: dict[str, list[str]] | None = None,
    keys: dict[str, list[str]] | None = None,
    lake: str | None = None,
) -> list[SourceBatch]:
    land(tmp_path / "landing", seed)
    batches: list[SourceBatch] = []
    handler = source_handler(
        spark,
        _config(tmp_path, parts or {}, keys, lake),
        tmp_path,
        batches.append,
        str(tmp_path / "landing"),
    )
    for wave in waves:
        files = [tmp_path / "landing" / "shop" / t / f for t, names in wave.items() for f in names]
        handler(_lines(spark, files), len(batches))
    return batches


def spy_loads(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The tables of each batch's one staging job (sinks/lake/text_load.py), as it runs."""
    loads: list[list[str]] = []
    load_text = text_load_module.load_text

    def spied(batch: Any, *args: Any, **kwargs: Any) -> Any:
        loads.append(sorted(batch))
        return load_text(batch, *args, **kwargs)

    monkeypatch.setattr("sinks.target.load_text", spied)
    return loads


def _state(spark: SparkSession, table: Path | str) -> dict[str, Any]:
    """What a reader and the next batch see of a lake table (a folder, local or on S3): its
    published rows and their Parquet types, its key index (less the arrival positions and
    tombstone times, which differ between runs), its manifest's figures and schema."""
    data = spark.read.parquet(str(table))
    keys = spark.read.parquet(f"{table}/_cdc/keys").drop(POS, DELETED_AT)
    storage = Storage(spark, str(table))
    manifests = [n for n in storage.list_names(f"{table}/_cdc/manifest") if n.endswith(".json")]
    manifest = json.loads(storage.read_text(f"{table}/_cdc/manifest/{max(manifests)}"))
    return {
        "types": sorted((f.name, f.dataType.simpleString()) for f in data.schema.fields),
        "rows": sorted((tuple(r) for r in data.collect()), key=repr),
        "keys": sorted((tuple(r) for r in keys.collect()), key=repr),
        "figures": {
            path: (e["rows"], e["tombstones"], e["min_key"], e["max_key"], bool(e["data"]))
            for path, e in manifest["partitions"].items()
        },
        "schema": manifest["schema"],
    }


# Partitioned by a timestamp (its text escaped in the folders' names, NULL in Spark's
# default partition) and an integer, or not at all.
PARTS: list[dict[str, list[str]]] = [{}, {"orders": ["placed"], "rates": ["n"]}]


# A first key whose range the tasks do not tell (a date): the staged key index is read back.
DATE_KEY = {"orders": ["day", "id"]}


Case = tuple[int, dict[str, list[str]], dict[str, list[str]]]  # seed, partitions, keys


@pytest.mark.parametrize(
    "case", [(3, PARTS[0], {}), (11, PARTS[1], {}), (3, PARTS[1], {}), (7, PARTS[1], DATE_KEY)]
)
def test_new_lake_tables_staged_together_land_as_each_table_applied_alone(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    seed, parts, keys = case
    loads = spy_loads(monkeypatch)
    together = _run(spark, tmp_path / "together", seed, WAVES, parts=parts, keys=keys)
    # Only the plain tables, and only at their first batch: later batches read the
    # files the tasks wrote (orders in the second batch, rates in the third).
    assert loads == [["orders"], ["rates"]]
    monkeypatch.setattr(LakeEngine, "takes_text", property(lambda self: False))
    alone = _run(spark, tmp_path / "alone", seed, WAVES, parts=parts, keys=keys)
    assert len(loads) == 2  # not taken the second time

    for name in TABLES:
        got = _state(spark, tmp_path / "together" / "lake" / name)
        assert got == _state(spark, tmp_path / "alone" / "lake" / name), name
        assert got["rows"] and got["figures"]  # something landed
        assert len(got["figures"]) > 1 or name not in parts  # partitioned, when asked
    assert _counts(together) == _counts(alone)
    assert _quarantine(tmp_path / "together" / "quarantine") == _quarantine(
        tmp_path / "alone" / "quarantine"
    )


@pytest.mark.parametrize("point", ["lake.after_staging", "lake.after_commit"])
def test_a_crash_among_the_tables_commits_converges_when_the_batch_is_replayed(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    """The first table to reach `point` dies there (its files staged, or its manifest
    written and not published), the others commit: a restarted job rolls the decided
    commit forward, replays the batch, and ends as a run that never crashed."""
    wave = {"orders": [LOAD, FIRST], "rates": [LOAD, FIRST]}
    clean = _run(spark, tmp_path / "clean", 5, [wave], parts=PARTS[1])
    crashed = {"done": False}

    def crash_once(name: str) -> None:
        if name == point and not crashed["done"]:
            crashed["done"] = True
            raise SimulatedCrashError(name)

    monkeypatch.setattr("sinks.lake.engine.crash_point", crash_once)
    with pytest.raises(SimulatedCrashError):
        _run(spark, tmp_path / "crashed", 5, [wave], parts=PARTS[1])
    assert crashed["done"]
    # The restarted job: new engines recover each table, and the batch comes again.
    (tmp_path / "crashed" / "checkpoint").rename(tmp_path / "crashed" / "old-checkpoint")
    config = _config(tmp_path / "crashed", PARTS[1])
    landing = str(tmp_path / "crashed" / "landing")
    handler = source_handler(spark, config, tmp_path / "crashed", root=landing)
    folder = tmp_path / "crashed" / "landing" / "shop"
    handler(_lines(spark, [folder / t / f for t, names in wave.items() for f in names]), 0)
    for name in wave:
        got = _state(spark, tmp_path / "crashed" / "lake" / name)
        assert got == _state(spark, tmp_path / "clean" / "lake" / name), name
    assert clean[0].tables  # the clean run applied the batch

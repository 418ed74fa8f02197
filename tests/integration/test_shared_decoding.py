"""Plain tables decoded by one program (runtime/shared.py) against each table decoded by
its own: the same DMS CSV batches through the job's batch handler into the warehouse (a
throwaway PostgreSQL), once each way. The tables, key tables, quarantine and counts must
be the same; only the plain tables may take the one program."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config import FilesSource, JobConfig, TableConfig
from config.secrets import read_secrets
from runtime.batch import SourceBatch
from runtime.decoding import SourceFormat
from runtime.shared import SharedDecoding
from runtime.tables import Replica
from sinks.redshift import ConnectionSettings
from tests.handler import source_handler
from transforms.names import ERROR, REPLICA
from transforms.shared_types import VALUES

# name: (columns, keys, extra config); the first two are plain, the others are not.
TABLES: dict[str, tuple[list[tuple[str, str]], list[str], dict[str, Any]]] = {
    "orders": (
        [("id", "bigint"), ("placed", "timestamp"), ("amount", "decimal(12,2)"),
         ("note", "string"), ("paid", "boolean"), ("day", "date")],
        ["id"],
        {"except_column_list": ["note"]},
    ),
    "rates": (
        [("code", "string"), ("rate", "double"), ("n", "int")],
        ["code", "rate"],
        {"max_string_bytes": 6},
    ),
    "people": ([("id", "int"), ("name", "string")], ["id"],
               {"derived": [{"name": "loud", "expr": "upper(name)"}]}),
    "events": ([("id", "int"), ("at", "timestamp"), ("v", "string")], ["id"],
               {"sequence_by": ["at"]}),
}  # fmt: skip
PLAIN = {"orders", "rates"}
BROKEN = [
    "",  # empty
    "I,1,2",  # too few fields
    'U,"unclosed,1,2,3,4,5,6',
    "I,1,2,3,4,5,6,7",  # too many fields
]


def _value(kind: str, rng: random.Random) -> str:
    good = {
        "bigint": str(rng.randint(-(2**40), 2**40)),
        "int": str(rng.randint(-1000, 1000)),
        "timestamp": f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 0{rng.randint(0, 9)}:"
        f"1{rng.randint(0, 9)}:00.{rng.randint(0, 999999):06d}",
        "decimal(12,2)": f"{rng.randint(-99999, 99999)}.{rng.randint(0, 999):03d}",
        "string": rng.choice(["a", "bé", "ccccccc", '"q,uo""ted"', "x y"]),
        "boolean": rng.choice(["1", "0", "true", "f"]),
        "date": f"2023-1{rng.randint(0, 2)}-0{rng.randint(1, 9)}",
        "double": rng.choice(["0.0", "-0.0", "1.5", "2.25", "1e3"]),
    }[kind]
    roll = rng.random()
    if roll < 0.05:
        return ""  # NULL (a NULL key is refused)
    if roll < 0.10 and kind not in ("string",):
        return "nope"  # does not cast
    return good


def _line(op: str, columns: list[tuple[str, str]], key: int, rng: random.Random) -> str:
    values = [_value(kind, rng) for _, kind in columns]
    values[0] = str(key) if columns[0][1] != "string" else f"k{key}"
    if rng.random() < 0.03:
        values[0] = ""
    return ",".join(([op] if op != "L" else []) + values)


def land(root: Path, seed: int) -> None:
    """A full load and two CDC files per table, with broken lines among them."""
    rng = random.Random(seed)
    for name, (columns, _, _) in TABLES.items():
        folder = root / "shop" / name
        folder.mkdir(parents=True)
        load = [_line("L", columns, k, rng) for k in range(40)]
        (folder / "LOAD00000001.csv").write_text("\n".join(load) + "\n")
        for stamp in ("20240101-000000001", "20240102-000000001"):
            lines = [_line(rng.choice("IUUD"), columns, rng.randint(0, 60), rng) for _ in range(60)]
            lines += [*rng.sample(BROKEN, 2), _line("Z", columns, 1, rng)]  # Z: no operation
            rng.shuffle(lines)
            (folder / f"{stamp}.csv").write_text("\n".join(lines) + "\n")


def job_config(
    tmp_path: Path, target: dict[str, Any], tables: list[dict[str, Any]] | None = None
) -> JobConfig:
    """A job over the landing under `tmp_path` of `land`, into `target`; `tables`: the
    table entries, `TABLES` as they are by default."""
    entries = tables or [
        {"name": name, "keys": keys, "columns": [{"name": n, "type": k} for n, k in columns],
         **extra}
        for name, (columns, keys, extra) in TABLES.items()
    ]  # fmt: skip
    return JobConfig.model_validate(
        {
            "name": "shared",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": {"path": str(tmp_path / "landing"), "format": "dms-csv"},
            "tables": [{"source_schema": "shop", **entry} for entry in entries],
            "target": target,
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )


def _config(tmp_path: Path, postgres: ConnectionSettings, schema: str) -> JobConfig:
    return job_config(
        tmp_path,
        {
            "kind": "redshift",
            "dialect": "postgres",
            "host": postgres.host,
            "port": postgres.port,
            "database": postgres.database,
            "user": postgres.user,
            "password_env": "WAREHOUSE_PASSWORD",
            "schema": schema,
        },
    )


LOAD, FIRST, SECOND = "LOAD00000001.csv", "20240101-000000001.csv", "20240102-000000001.csv"
# The batches: `rates` first comes in the second, beside `orders`, which the first had.
WAVES = [
    {"orders": [LOAD, FIRST], "people": [LOAD, FIRST], "events": [LOAD, FIRST]},
    {"orders": [SECOND], "rates": [LOAD, FIRST], "people": [SECOND], "events": [SECOND]},
    {"rates": [SECOND]},
]


def _lines(spark: SparkSession, files: list[Path]) -> DataFrame:
    """A batch as the files source gives it: a row a line."""
    return (
        spark.read.text([str(f) for f in files])
        .select("*", F.input_file_name().alias("_file"))
        .select("*", F.expr("input_file_block_start()").alias("_block"))
    )


def _run(
    spark: SparkSession, tmp_path: Path, postgres: ConnectionSettings, seed: int
) -> tuple[str, list[SourceBatch]]:
    """Both batches of the landing of `seed` through a handler of their own; the schema
    the tables are in."""
    schema = f"s_{uuid.uuid4().hex[:8]}"
    land(tmp_path / "landing", seed)
    config = _config(tmp_path, postgres, schema)
    password = {"WAREHOUSE_PASSWORD": postgres.password}
    config = config.with_secrets(read_secrets(password, password))
    batches: list[SourceBatch] = []
    handler = source_handler(spark, config, tmp_path, batches.append, str(tmp_path / "landing"))
    for wave in WAVES:
        files = [tmp_path / "landing" / "shop" / t / f for t, names in wave.items() for f in names]
        handler(_lines(spark, files), len(batches))
    return schema, batches


def _table(postgres: ConnectionSettings, sql: str) -> list[tuple[Any, ...]]:
    with postgres.connect() as conn:
        cur = conn.cursor()
        cur.execute(sql)
        names = [d.name for d in cur.description]
        kept = [i for i, n in enumerate(names) if n not in ("_pos", "_deleted_at")]
        return sorted((tuple(row[i] for i in kept) for row in cur.fetchall()), key=repr)


def _quarantine(root: Path) -> dict[str, list[tuple[str, str, str]]]:
    found: dict[str, list[tuple[str, str, str]]] = {}
    for part in root.rglob("part-*.json"):
        for line in part.read_text().splitlines():
            entry = json.loads(line)
            found.setdefault(entry["table"], []).append(
                (entry["reason"], entry["raw_record"], entry["source_file"].rsplit("/", 1)[-1])
            )
    return {t: sorted(e) for t, e in found.items()}


def _counts(batches: list[SourceBatch]) -> list[dict[str, Any]]:
    return sorted(
        (
            {
                "batch": m.batch_id,
                "table": m.table,
                "read": m.read_by_op,
                "quarantined": m.quarantined,
                "skipped": m.skipped,
                "upserts": m.result.upserts,
                "deletes": m.result.deletes,
                "stale": m.result.stale,
            }
            for b in batches
            for m in b.tables
        ),
        key=repr,
    )


@pytest.mark.parametrize("seed", [3, 11])
def test_plain_tables_decoded_by_one_program_land_as_each_table_decoded_alone(
    spark: SparkSession,
    postgres: ConnectionSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
) -> None:
    shared_tables: list[list[str]] = []
    records = SharedDecoding.records

    def spied(self: SharedDecoding, routed: DataFrame, replicas: Any) -> DataFrame:
        shared_tables.append(sorted(r.name for r in replicas))
        return records(self, routed, replicas)

    monkeypatch.setattr(SharedDecoding, "records", spied)
    one, one_batches = _run(spark, tmp_path / "one", postgres, seed)
    # Each batch decodes the last batch's plain tables ahead of the routing (counted in its
    # job), and after it the tables it did not expect: the second batch stages from both.
    assert shared_tables == [["orders"], ["orders"], ["rates"], ["orders", "rates"]]
    monkeypatch.setattr(SharedDecoding, "takes", lambda self, replica: False)
    apart, apart_batches = _run(spark, tmp_path / "apart", postgres, seed)
    assert len(shared_tables) == 4  # not taken the second time

    for name in TABLES:
        for suffix in ("", "__cdc_keys"):
            sql = 'SELECT * FROM "{}"."{}"'
            got = _table(postgres, sql.format(one, name + suffix))
            assert got == _table(postgres, sql.format(apart, name + suffix)), name + suffix
            assert got  # something landed
    assert _counts(one_batches) == _counts(apart_batches)
    quarantine = _quarantine(tmp_path / "one" / "quarantine")
    assert quarantine == _quarantine(tmp_path / "apart" / "quarantine")
    assert set(quarantine) == set(TABLES)  # every table refused some records
    reasons = " ".join(r for entries in quarantine.values() for r, _, _ in entries)
    for reason in ("not a valid", "is null", "expected", "not closed", "unknown operation"):
        assert reason in reasons


def test_a_table_changed_since_decoded_ahead_is_decoded_again(spark: SparkSession) -> None:
    """The records decoded ahead of the routing serve only the tables the routing left
    as they were: a table whose columns changed meanwhile is decoded by a new program."""

    def replica(name: str, columns: list[tuple[str, str]]) -> Replica:
        entry = TableConfig.model_validate(
            {
                "name": name,
                "source_schema": "shop",
                "keys": ["id"],
                "columns": [{"name": n, "type": k} for n, k in columns],
            }
        )
        return Replica.declared(entry, f"tables.{name}")

    cdc = "/land/shop/{}/20240101-000000001.csv"
    lines = [("I,1,a", "a"), ("I,2,b,7", "b")]
    routed = spark.createDataFrame(
        [(line, cdc.format(t), 0, "shop", t) for line, t in lines],
        "value string, _file string, _block long, _schema string, _table string",
    )
    decoding = SharedDecoding(SourceFormat(FilesSource(path="/land")))
    a, b = (
        replica("a", [("id", "int"), ("v", "string")]),
        replica("b", [("id", "int"), ("v", "string")]),
    )
    decoding.decoded(routed, [a, b])  # the first batch: the last batch's tables are a and b
    ahead = decoding.ahead(routed, lambda _: True)
    assert ahead is not None
    wider = replica("b", [("id", "int"), ("v", "string"), ("n", "int")])
    b.config, b.columns = wider.config, wider.columns  # b gained a column, as refresh does
    frames, now = decoding.decoded(routed, [a, b])
    assert frames["a"] is ahead and frames["b"] is now and now is not ahead
    rows = {r[REPLICA]: r for r in now.collect()} | {
        r[REPLICA]: r for r in ahead.where(F.col(REPLICA) == "a").collect()
    }
    assert rows["b"][ERROR] is None and rows["b"][VALUES] == ["2", "b", "7"]
    assert rows["a"][VALUES] == ["1", "a"]
    decoding.release()

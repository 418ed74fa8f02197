"""What is specific to the Iceberg engine; the shared rules are in tests/contract.

Snapshots are counted and read the way any Iceberg reader sees them: PyIceberg on the
table's current metadata file, no Spark.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.table import StaticTable
from pyspark.sql import DataFrame, SparkSession

from config import ConfigError, IcebergTarget, load_config
from sinks.crash import SimulatedCrashError
from sinks.factory import make_engine
from sinks.iceberg import IcebergEngine, IcebergHistoryEngine
from sinks.iceberg.catalog import TARGET_FILE_SIZE
from tests.contract.targets import iceberg_rows

SCHEMA = "id int, name string, day int, _op string, _seq string, _pos string, _commit_ts timestamp"
DEMO = Path(__file__).resolve().parents[2] / "conf" / "demo.yaml"


def changes(spark: SparkSession, rows: Sequence[tuple[object, ...]]) -> DataFrame:
    return spark.createDataFrame([(*r, None) for r in rows], SCHEMA)


def engine(
    spark: SparkSession,
    root: Path,
    mode: str = "merge-on-read",
    state_mode: str = "copy-on-write",
) -> IcebergEngine:
    return IcebergEngine(
        spark,
        str(root),
        table="t",
        keys=["id"],
        partition_by=["day"],
        spark_catalog=f"iceberg_{root.name}",
        write_mode=mode,
        state_write_mode=state_mode,
    )


def snapshots(root: Path, table: str = "t") -> list[dict[str, str]]:
    """Summaries of the table's snapshots, oldest first."""
    metadata = root / "cdc" / table / "metadata"
    current = metadata / f"v{(metadata / 'version-hint.text').read_text().strip()}.metadata.json"
    found = StaticTable.from_metadata(str(current)).metadata.snapshots
    return [dict(s.summary.additional_properties) if s.summary else {} for s in found]


@pytest.mark.parametrize("point", ["iceberg.after_data_commit", "iceberg.after_commit"])
def test_crash_then_rerun_finishes_the_batch_once_and_a_replay_writes_no_snapshot(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    root = tmp_path / point.replace(".", "_")
    first = changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, "b", 2, "I", "1", "p2")])
    engine(spark, root).apply(first, 0, "w")
    second = changes(spark, [(1, "a2", 3, "U", "2", "p3"), (2, None, None, "D", "2", "p4")])
    monkeypatch.setenv("STREAM_CDC_CRASH_MODE", "raise")
    monkeypatch.setenv("STREAM_CDC_CRASH_AT", point)
    with pytest.raises(SimulatedCrashError):
        engine(spark, root).apply(second, 1, "w")
    monkeypatch.delenv("STREAM_CDC_CRASH_AT")
    assert iceberg_rows(root / "cdc" / "t", ("id", "name", "day")) == {(1, "a2", 3)}
    before = len(snapshots(root)), len(snapshots(root, "t__cdc_keys"))

    restarted = engine(spark, root)  # a new process: it knows nothing yet
    rerun = restarted.apply(second, 1, "w")  # Spark re-runs the uncommitted batch
    replay = restarted.apply(first, 0, "w")

    after = len(snapshots(root)), len(snapshots(root, "t__cdc_keys"))
    assert replay.skipped
    if point == "iceberg.after_commit":
        assert rerun.skipped and after == before
    else:  # the key table is rolled forward, the published table is not written twice
        assert (rerun.skipped, rerun.deletes, after) == (False, 1, (before[0], before[1] + 1))
    assert [(s["cdc.writer"], s["cdc.batch"]) for s in snapshots(root)] == [("w", "0"), ("w", "1")]
    late = restarted.apply(changes(spark, [(2, "late", 2, "U", "1", "p0")]), 2, "w")
    assert late.stale == 1  # the tombstone is in place
    assert iceberg_rows(root / "cdc" / "t", ("id", "name", "day")) == {(1, "a2", 3)}


def test_an_iceberg_config_builds_an_iceberg_engine_per_table_mode(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = load_config(
        DEMO,
        [
            "target.kind=iceberg",
            f"target.path={tmp_path}",
            "target.write_modes={cases: copy-on-write}",
            "target.target_file_size_mb=64",
        ],
    )
    assert isinstance(config.target, IcebergTarget)

    built = make_engine(spark, config, config.explicit_tables[0])

    assert isinstance(built, IcebergEngine)
    assert built.location == f"{tmp_path}/cdc/cases"
    assert built.key_table == "cases__cdc_keys"
    assert built._mode == "copy-on-write"
    assert built._properties == {TARGET_FILE_SIZE: str(64 * 1024 * 1024)}


def test_an_iceberg_config_with_scd_type_2_builds_a_history_engine(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = load_config(
        DEMO, ["target.kind=iceberg", f"target.path={tmp_path}", "tables.0.scd_type=2"]
    )
    table = config.explicit_tables[0]
    assert table.partition_by

    built = make_engine(spark, config, table)

    assert isinstance(built, IcebergHistoryEngine)
    assert built.location == f"{tmp_path}/cdc/cases"
    assert built.events_table == "cases__cdc_events"
    assert built._parts == table.partition_by


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "target.catalog={database: d}",
            "target.catalog: Input should be 'hadoop', 'glue' or 'rest'",
        ),
        ("target.write_mode=upsert", "target.write_mode"),
    ],
)
def test_iceberg_config_mistakes_fail_naming_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(DEMO, ["target.kind=iceberg", "target.path=s3://b/w", override])
    assert message in str(error.value)


def test_partition_transforms_partition_the_table_and_its_keys_by_what_they_hold(
    spark: SparkSession, tmp_path: Path
) -> None:
    """days() of a payload column on the table only; bucket() of the key on both."""
    schema = f"id int, name string, ts timestamp, {SCHEMA.split(', ', 3)[3]}"
    at = dt.datetime(2024, 5, 1, 12)
    table = IcebergEngine(
        spark, str(tmp_path), table="t", keys=["id"], transforms=["days(ts)", "bucket(4, id)"],
        spark_catalog="iceberg_transforms",
    )  # fmt: skip
    rows: list[tuple[object, ...]] = [
        (1, "a", at, "I", "1", "p1", None),
        (2, "b", at, "I", "1", "p2", None),
    ]
    table.apply(spark.createDataFrame(rows, schema), 0, "w")
    later = at + dt.timedelta(days=3)
    rows = [(1, "a2", later, "U", "2", "p3", None), (2, None, None, "D", "2", "p4", None)]
    table.apply(spark.createDataFrame(rows, schema), 1, "w")

    assert iceberg_rows(tmp_path / "cdc" / "t", ("id", "name", "ts")) == {
        (1, "a2", later.replace(tzinfo=dt.UTC))
    }
    specs = {
        name: [(f.name, str(f.transform)) for f in table_metadata(tmp_path, name).spec().fields]
        for name in ("t", "t__cdc_keys")
    }
    assert specs == {
        "t": [("ts_day", "day"), ("id_bucket", "bucket[4]")],
        "t__cdc_keys": [("id_bucket", "bucket[4]")],
    }


def table_metadata(root: Path, name: str) -> Any:
    metadata = root / "cdc" / name / "metadata"
    current = metadata / f"v{(metadata / 'version-hint.text').read_text().strip()}.metadata.json"
    return StaticTable.from_metadata(str(current))


def test_partition_transforms_and_partition_by_of_one_table_fail_naming_it() -> None:
    with pytest.raises(ConfigError) as error:
        load_config(
            DEMO,
            [
                "target.kind=iceberg",
                "target.path=/w",
                "target.partition_transforms={cases: [days(ts)]}",
            ],
        )
    assert "has target.partition_transforms; set one of them" in str(error.value)


_FRESH_SESSION = """
import sys
from pathlib import Path

from pyspark.sql.streaming import StreamingQueryListener

from runtime.session import local_session
from tests.contract.targets import iceberg_target


class Quiet(StreamingQueryListener):
    def onQueryStarted(self, event): pass
    def onQueryProgress(self, event): pass
    def onQueryIdle(self, event): pass
    def onQueryTerminated(self, event): pass


spark = local_session("iceberg-then-listener", shuffle_partitions=2)
iceberg_target(spark, Path(sys.argv[1])).apply([(1, "a", 1, "I", "1", "p1")], 0)
spark.streams.addListener(Quiet())
print("listener added")
"""


def test_a_fresh_session_adds_a_streaming_listener_after_an_iceberg_batch(tmp_path: Path) -> None:
    """The engine's commit calls back into Python; PySpark's callback server must be
    started before that, or starting it later (a listener, a foreachBatch) breaks the
    session's connection. Only a session no callback has used shows it: a new process."""
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_SESSION, str(tmp_path)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "listener added" in done.stdout


def operations(root: Path, table: str = "t") -> list[str]:
    """The operation of each of the table's snapshots, oldest first."""
    metadata = root / "cdc" / table / "metadata"
    current = metadata / f"v{(metadata / 'version-hint.text').read_text().strip()}.metadata.json"
    found = StaticTable.from_metadata(str(current)).metadata.snapshots
    return [s.summary.operation.value if s.summary else "" for s in found]


@pytest.mark.parametrize("point", [None, "iceberg.after_data_commit"])
def test_first_batch_into_tables_the_engine_created_is_appended_once(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str | None
) -> None:
    """Nothing is held in new tables: the first batch is one append to each (the last change
    per key; tombstones, one of a key never seen), carrying (writer, batch). A first batch
    that dies between the two is finished by a MERGE of the key table only."""
    root = tmp_path / f"fresh_{(point or 'whole').replace('.', '_')}"  # a catalog of its own
    rows = [
        (1, "a", 1, "I", "1", "p1"),
        (1, "a1", 1, "U", "2", "p2"),
        (2, None, None, "D", "1", "p3"),  # a key never seen
        (3, "c", 2, "I", "1", "p4"),
    ]
    first = changes(spark, rows)
    # A crashed first batch's key table merge-on-read: its MERGE of inserts only is then
    # told from an append by its operation (copy-on-write commits it as an append).
    iceberg = engine(spark, root, state_mode="copy-on-write" if point is None else "merge-on-read")
    if point is not None:
        monkeypatch.setenv("STREAM_CDC_CRASH_MODE", "raise")
        monkeypatch.setenv("STREAM_CDC_CRASH_AT", point)
        with pytest.raises(SimulatedCrashError):
            iceberg.apply(first, 0, "w")
        monkeypatch.delenv("STREAM_CDC_CRASH_AT")
    result = iceberg.apply(first, 0, "w")

    assert operations(root) == ["append"]
    assert operations(root, "t__cdc_keys") == (["append"] if point is None else ["overwrite"])
    assert [(s["cdc.writer"], s["cdc.batch"]) for s in snapshots(root)] == [("w", "0")]
    assert iceberg_rows(root / "cdc" / "t", ("id", "name", "day")) == {(1, "a1", 1), (3, "c", 2)}
    held = iceberg_rows(root / "cdc" / "t__cdc_keys", ("id", "_seq", "_cdc_deleted"))
    assert held == {(1, "2", False), (2, "1", True), (3, "1", False)}
    assert (result.upserts, result.deletes, result.rows_in_table) == (2, 1, 2)
    assert engine(spark, root).apply(first, 0, "w").skipped  # a restarted process

    late = iceberg.apply(changes(spark, [(2, "late", 2, "I", "0", "p0")]), 1, "w")
    assert late.stale == 1  # the tombstone is in place
    iceberg.apply(changes(spark, [(3, "c2", 2, "U", "2", "p5")]), 2, "w")
    assert operations(root)[-1] != "append"  # a MERGE once the tables hold something

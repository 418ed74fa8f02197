"""What is specific to the Delta engine; the shared rules are in tests/contract.

Changes are given directly in canonical form: keys, payload, _op, _seq, _pos.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config import ConfigError, DeltaTarget, load_config
from sinks.crash import SimulatedCrashError
from sinks.delta import DeltaEngine
from sinks.delta.history import DeltaHistoryEngine
from sinks.delta.log import TXN_APP_ID, TXN_VERSION, log_state
from sinks.factory import make_engine
from sinks.settings import session_settings

SCHEMA = "id int, name string, day int, _op string, _seq string, _pos string, _commit_ts timestamp"
DEMO = Path(__file__).resolve().parents[2] / "conf" / "demo.yaml"


def changes(spark: SparkSession, rows: Sequence[tuple[object, ...]]) -> DataFrame:
    return spark.createDataFrame([(*r, None) for r in rows], SCHEMA)


def engine(spark: SparkSession, path: str, partition_by: tuple[str, ...] = ("day",)) -> DeltaEngine:
    return DeltaEngine(spark, path, keys=["id"], partition_by=partition_by)


def state(spark: SparkSession, path: str) -> set[tuple[object, ...]]:
    rows = spark.read.format("delta").load(path).select("id", "name", "day").collect()
    return {tuple(r) for r in rows}


def version(spark: SparkSession, path: str) -> int:
    last = DeltaTable.forPath(spark, path).history(1).first()
    assert last is not None
    return int(last["version"])


def last_metrics(spark: SparkSession, path: str) -> dict[str, str]:
    last = DeltaTable.forPath(spark, path).history(1).first()
    assert last is not None and last["operation"] == "MERGE"
    return dict(last["operationMetrics"])


def files_by_key(spark: SparkSession, path: str) -> dict[str, set[int]]:
    """Live data files of the table (local paths) and the keys each one holds."""
    rows = (
        spark.read.format("delta")
        .load(path)
        .select("id", F.input_file_name().alias("file"))
        .collect()
    )
    files: dict[str, set[int]] = {}
    for r in rows:
        files.setdefault(unquote(urlparse(r["file"]).path), set()).add(r["id"])
    return files


@pytest.fixture
def crash_raise(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("STREAM_CDC_CRASH_MODE", "raise")
    yield monkeypatch


def test_published_table_has_business_columns_and_live_rows_only(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    delta = engine(spark, path)
    delta.apply(changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, "b", 2, "I", "1", "p2")]), 0, "w")
    delta.apply(changes(spark, [(1, None, None, "D", "2", "p3")]), 1, "w")

    assert spark.read.format("delta").load(path).columns == ["id", "name", "day"]
    assert state(spark, path) == {(2, "b", 2)}
    tombstones = spark.read.format("delta").load(delta.state_path).where("_deleted")
    assert [r["id"] for r in tombstones.collect()] == [1]


def test_replayed_batch_writes_no_new_delta_version(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    delta = engine(spark, path)
    first = changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, "b", 2, "I", "1", "p2")])
    delta.apply(first, 0, "w")
    delta.apply(changes(spark, [(1, "a2", 1, "U", "2", "p3")]), 1, "w")
    versions = (version(spark, path), version(spark, delta.state_path))

    for replayed, batch_id in ((first, 0), (changes(spark, [(1, "a2", 1, "U", "2", "p3")]), 1)):
        again = engine(spark, path).apply(replayed, batch_id, "w")  # a restarted process
        assert again.skipped

    assert (version(spark, path), version(spark, delta.state_path)) == versions
    assert log_state(spark, delta.state_path, "w").last_batch == 1
    assert state(spark, path) == {(1, "a2", 1), (2, "b", 2)}
    # The transaction settings never outlive a batch: other writes are not skipped.
    assert spark.conf.get(TXN_APP_ID, None) is None
    assert spark.conf.get(TXN_VERSION, None) is None


def test_merge_reads_and_rewrites_only_the_partitions_of_the_batch(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    delta = engine(spark, path)
    delta.apply(
        changes(spark, [(i, f"n{i}", i % 10, "I", "1", f"p{i:03d}") for i in range(100)]), 0, "w"
    )
    files = files_by_key(spark, path)
    # Keys 3 (day 3) and 94 (day 4, moving to day 12): their range spans every file,
    # so only the partition values can keep the other files out.
    scanned = {f for f in files if Path(f).parent.name in {"day=3", "day=4"}}
    for other in set(files) - scanned:
        os.remove(other)  # reading one of them now fails

    result = delta.apply(
        changes(spark, [(3, "x", 3, "U", "2", "q1"), (94, "moved", 12, "U", "2", "q2")]), 1, "w"
    )

    metrics = last_metrics(spark, path)
    rewritten = [f for f, ids in files.items() if ids & {3, 94}]
    assert int(metrics["numTargetFilesRemoved"]) == len(rewritten)
    assert (int(metrics["numTargetRowsUpdated"]), result.partitions_rewritten) == (2, 3)
    with pytest.raises(Exception, match="does not exist"):
        spark.read.format("delta").load(path).collect()  # a full read needs the removed files


def test_key_range_keeps_files_of_other_keys_out_of_both_merges(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Unpartitioned: keys arrive in ranges, so each file covers one range of keys."""
    path = str(tmp_path / "t")
    delta = engine(spark, path, partition_by=())
    for batch_id in range(3):
        keys = range(batch_id * 100, batch_id * 100 + 100)
        delta.apply(
            changes(spark, [(i, "n", 1, "I", "1", f"p{i:05d}") for i in keys]), batch_id, "w"
        )
    data, held = files_by_key(spark, path), files_by_key(spark, delta.state_path)
    for files in (data, held):  # files whose keys all lie outside [150, 160] are removed
        for other in [f for f, ids in files.items() if max(ids) < 150 or min(ids) > 160]:
            os.remove(other)

    delta.apply(
        changes(spark, [(150, "x", 1, "U", "2", "q1"), (160, None, None, "D", "2", "q2")]), 3, "w"
    )

    rewritten = [f for f, ids in data.items() if ids & {150, 160}]
    assert int(last_metrics(spark, path)["numTargetFilesRemoved"]) == len(rewritten)
    assert int(last_metrics(spark, delta.state_path)["numTargetRowsUpdated"]) == 2


@pytest.mark.parametrize("point", ["delta.after_data_commit", "delta.after_commit"])
def test_crash_then_rerun_finishes_the_batch_once(
    spark: SparkSession, tmp_path: Path, crash_raise: pytest.MonkeyPatch, point: str
) -> None:
    path = str(tmp_path / "t")
    engine(spark, path).apply(
        changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, "b", 2, "I", "1", "p2")]), 0, "w"
    )
    second = changes(spark, [(1, "a2", 3, "U", "2", "p3"), (2, None, None, "D", "2", "p4")])
    crash_raise.setenv("STREAM_CDC_CRASH_AT", point)
    with pytest.raises(SimulatedCrashError):
        engine(spark, path).apply(second, 1, "w")
    crash_raise.delenv("STREAM_CDC_CRASH_AT")
    assert state(spark, path) == {(1, "a2", 3)}  # the published table's commit is whole
    restarted = engine(spark, path)
    restarted.recover()
    versions = (version(spark, path), version(spark, restarted.state_path))

    rerun = restarted.apply(second, 1, "w")  # Spark re-runs the uncommitted batch

    data_version, keys_version = version(spark, path), version(spark, restarted.state_path)
    assert data_version == versions[0]  # never applied twice
    if point == "delta.after_commit":
        assert rerun.skipped and keys_version == versions[1]
    else:  # the key table is rolled forward by the re-run
        assert (rerun.skipped, rerun.deletes, keys_version) == (False, 1, versions[1] + 1)
    late = restarted.apply(changes(spark, [(2, "late", 2, "U", "1", "p0")]), 2, "w")
    assert late.stale == 1  # the tombstone is in place
    assert state(spark, path) == {(1, "a2", 3)}


def test_vacuum_of_the_published_table_keeps_the_key_table(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    delta = engine(spark, path)
    delta.apply(changes(spark, [(1, "a", 1, "I", "1", "p1")]), 0, "w")
    delta.apply(changes(spark, [(1, None, None, "D", "2", "p2")]), 1, "w")
    vacuum_now = {
        "spark.databricks.delta.retentionDurationCheck.enabled": "false",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "4",  # a small table
    }
    with session_settings(spark, vacuum_now):
        DeltaTable.forPath(spark, path).vacuum(0)

    late = delta.apply(changes(spark, [(1, "late", 1, "U", "1", "p0")]), 2, "w")

    assert late.stale == 1
    assert state(spark, path) == set()


def test_partition_column_that_is_also_a_key(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    delta = DeltaEngine(spark, path, keys=["id", "day"], partition_by=["day"])
    delta.apply(changes(spark, [(1, "a", 1, "I", "1", "p1"), (1, "b", 2, "I", "1", "p2")]), 0, "w")
    delta.apply(
        changes(spark, [(1, "a2", 1, "U", "2", "p3"), (1, None, 2, "D", "2", "p4")]), 1, "w"
    )

    assert state(spark, path) == {(1, "a2", 1)}
    assert spark.read.format("delta").load(delta.state_path).columns == [
        "id",
        "day",
        "_seq",
        "_pos",
        "_deleted",
        "_deleted_at",
    ]


def test_a_lake_config_switched_to_delta_builds_a_delta_engine(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = load_config(DEMO, ["target.kind=delta", f"target.path={tmp_path}"])
    assert isinstance(config.target, DeltaTarget)

    built = make_engine(spark, config, config.explicit_tables[0])

    assert isinstance(built, DeltaEngine)
    assert built.location.endswith(f"{tmp_path}/cases")
    assert built.state_path == f"{built.location}/_cdc/keys"


def test_a_history_config_builds_a_partitioned_history_engine(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = load_config(
        DEMO,
        ["target.kind=delta", f"target.path={tmp_path}", "tables.0.scd_type=2"],
    )
    assert config.explicit_tables[0].partition_by

    built = make_engine(spark, config, config.explicit_tables[0])

    assert isinstance(built, DeltaHistoryEngine)
    assert built.state_path == f"{built.location}/_cdc/events"
    assert built._parts == config.explicit_tables[0].partition_by


def test_history_is_partitioned_by_each_versions_own_values(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "h")
    history = DeltaHistoryEngine(
        spark, path, keys=["id"], partition_by=["day"], max_records_per_file=1
    )
    history.apply(
        changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, "b", 1, "I", "1", "p2")]), 0, "w"
    )
    # Key 1 moves to day 2; its first version stays in day 1 and is closed there.
    result = history.apply(changes(spark, [(1, "a2", 2, "U", "2", "p3")]), 1, "w")

    detail = DeltaTable.forPath(spark, path).detail().first()
    assert detail is not None and list(detail["partitionColumns"]) == ["day"]
    rows = (
        spark.read.format("delta")
        .load(path)
        .select("id", "name", "day", "is_current", F.input_file_name().alias("file"))
        .collect()
    )
    assert sorted((r["id"], r["name"], r["day"], r["is_current"]) for r in rows) == [
        (1, "a", 1, False),
        (1, "a2", 2, True),
        (2, "b", 1, True),
    ]
    assert all(f"/day={r['day']}/" in unquote(r["file"]) for r in rows)
    assert len({r["file"] for r in rows}) == 3  # max_records_per_file=1 holds for history
    assert result.rows_in_table == 3 and result.changes_in == 1 and result.upserts == 1


def test_row_moving_out_of_the_null_partition_is_not_duplicated(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    delta = engine(spark, path)
    delta.apply(
        changes(spark, [(1, "a", None, "I", "1", "p1"), (2, "b", 2, "I", "1", "p2")]), 0, "w"
    )
    delta.apply(
        changes(spark, [(1, "a2", 5, "U", "2", "p3"), (2, "b2", None, "U", "2", "p4")]), 1, "w"
    )

    assert state(spark, path) == {(1, "a2", 5), (2, "b2", None)}


def test_delta_state_dir_must_be_a_hidden_folder_name() -> None:
    with pytest.raises(ConfigError, match="state_dir must be one folder name"):
        load_config(DEMO, ["target.kind=delta", "target.state_dir=cdc"])


@pytest.mark.parametrize("point", ["delta.after_data_commit", "delta.after_commit"])
def test_history_crash_then_rerun_adds_each_version_once(
    spark: SparkSession, tmp_path: Path, crash_raise: pytest.MonkeyPatch, point: str
) -> None:
    path = str(tmp_path / "h")
    DeltaHistoryEngine(spark, path, keys=["id"]).apply(
        changes(spark, [(1, "a", 1, "I", "1", "p1")]), 0, "w"
    )
    second = changes(spark, [(1, "b", 1, "U", "2", "p2"), (1, None, None, "D", "3", "p3")])
    crash_raise.setenv("STREAM_CDC_CRASH_AT", point)
    with pytest.raises(SimulatedCrashError):
        DeltaHistoryEngine(spark, path, keys=["id"]).apply(second, 1, "w")
    crash_raise.delenv("STREAM_CDC_CRASH_AT")

    restarted = DeltaHistoryEngine(spark, path, keys=["id"])
    restarted.recover()
    restarted.apply(second, 1, "w")  # Spark re-runs the uncommitted batch
    # A late change (seq 1.5) lands between the two versions: the events are all there.
    restarted.apply(changes(spark, [(1, "late", 1, "U", "15", "p4")]), 2, "w")

    rows = spark.read.format("delta").load(path).select("name", "_seq", "is_current").collect()
    assert sorted((r["_seq"], r["name"], r["is_current"]) for r in rows) == [
        ("1", "a", False),
        ("15", "late", False),
        ("2", "b", False),
    ]
    events = spark.read.format("delta").load(restarted.state_path)
    assert events.count() == 4  # p1..p4, none twice


def test_rows_kept_by_the_engine_equal_a_count_of_the_table_after_every_batch(
    spark: SparkSession, tmp_path: Path, crash_raise: pytest.MonkeyPatch
) -> None:
    """The engine counts the table once, then adds what accepted changes add and remove:
    new keys, updates, deletes of live and of unknown keys, a re-insert after a delete, a
    stale change, a key moving partition, a replayed batch and a failed one."""
    path = str(tmp_path / "t")
    delta = engine(spark, path)
    batches: list[list[tuple[object, ...]]] = [
        [(1, "a", 1, "I", "1", "p1"), (2, "b", 2, "I", "1", "p2"), (3, "c", 3, "I", "1", "p3")],
        [(1, "a2", 2, "U", "2", "p4"), (9, None, None, "D", "2", "p5")],  # moves; unknown key
        [(2, None, None, "D", "3", "p6"), (3, "c0", 3, "U", "0", "p7")],  # delete; stale
        [(2, "b2", 2, "I", "4", "p8"), (4, "d", 1, "I", "4", "p9")],  # back after its delete
        [(1, None, None, "D", "5", "p10"), (4, None, None, "D", "5", "p11")],
    ]
    for batch_id, rows in enumerate(batches):
        result = delta.apply(changes(spark, rows), batch_id, "w")
        assert result.rows_in_table == spark.read.format("delta").load(path).count(), batch_id

    replayed = delta.apply(changes(spark, batches[-1]), len(batches) - 1, "w")
    assert replayed.skipped and replayed.rows_in_table == 2

    # A batch that dies between its commits, re-run: the rows are still the table's.
    crash_raise.setenv("STREAM_CDC_CRASH_AT", "delta.after_data_commit")
    late = [(5, "e", 1, "I", "6", "p12")]
    with pytest.raises(SimulatedCrashError):
        delta.apply(changes(spark, late), len(batches), "w")
    crash_raise.delenv("STREAM_CDC_CRASH_AT")
    rerun = delta.apply(changes(spark, late), len(batches), "w")
    assert rerun.rows_in_table == 3 == spark.read.format("delta").load(path).count()
    assert state(spark, path) == {(2, "b2", 2), (3, "c", 3), (5, "e", 1)}


def operation(spark: SparkSession, path: str) -> str:
    last = DeltaTable.forPath(spark, path).history(1).first()
    assert last is not None
    return str(last["operation"])


def test_first_batch_into_tables_the_engine_created_is_appended_and_guards_the_next(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Nothing is held in new tables: the first batch is two appends (Delta's WRITE), with
    what the MERGEs would have written: the last change per key, tombstones of deleted
    keys (one never seen), the (writer, batch) that makes a replay a no-op."""
    path = str(tmp_path / "t")
    delta = engine(spark, path)
    first = [
        (1, "a", 1, "I", "1", "p1"),
        (1, "a1", 1, "U", "2", "p2"),
        (2, "b", 2, "I", "1", "p3"),
        (3, None, None, "D", "1", "p4"),  # a key never seen
        (4, "d", 1, "I", "1", "p5"),
        (4, None, None, "D", "2", "p6"),
    ]
    result = delta.apply(changes(spark, first), 0, "w")

    assert (operation(spark, path), operation(spark, delta.state_path)) == ("WRITE", "WRITE")
    assert state(spark, path) == {(1, "a1", 1), (2, "b", 2)}
    keys = spark.read.format("delta").load(delta.state_path)
    assert {(r["id"], r["_seq"], r["_deleted"]) for r in keys.collect()} == {
        (1, "2", False),
        (2, "1", False),
        (3, "1", True),
        (4, "2", True),
    }
    assert (result.upserts, result.deletes, result.rows_in_table) == (2, 2, 2)
    assert log_state(spark, delta.state_path, "w").last_batch == 0
    versions = (version(spark, path), version(spark, delta.state_path))
    assert engine(spark, path).apply(changes(spark, first), 0, "w").skipped  # a restart
    assert (version(spark, path), version(spark, delta.state_path)) == versions

    late = [(3, "c", 3, "I", "0", "p0"), (2, "b2", 2, "U", "2", "p7")]
    second = delta.apply(changes(spark, late), 1, "w")
    assert (second.stale, operation(spark, path)) == (1, "MERGE")  # guarded by the tombstone
    assert state(spark, path) == {(1, "a1", 1), (2, "b2", 2)}
    # An engine that did not create the tables never takes them for empty.
    engine(spark, path).apply(changes(spark, [(5, "e", 1, "I", "3", "p8")]), 2, "w")
    assert operation(spark, path) == operation(spark, delta.state_path) == "MERGE"


@pytest.mark.parametrize("point", ["delta.after_data_commit", "delta.after_commit"])
@pytest.mark.parametrize("restart", [True, False])
def test_first_batch_that_dies_between_its_appends_is_finished_once(
    spark: SparkSession, tmp_path: Path, crash_raise: pytest.MonkeyPatch, point: str, restart: bool
) -> None:
    """Re-run by a restarted process or by the same engine (which forgot the tables were
    empty): the published table is not written twice, the key table is rolled forward."""
    path = str(tmp_path / "t")
    first = changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, None, None, "D", "1", "p2")])
    delta = engine(spark, path)
    crash_raise.setenv("STREAM_CDC_CRASH_AT", point)
    with pytest.raises(SimulatedCrashError):
        delta.apply(first, 0, "w")
    crash_raise.delenv("STREAM_CDC_CRASH_AT")
    versions = (version(spark, path), version(spark, delta.state_path))

    rerun = (engine(spark, path) if restart else delta).apply(first, 0, "w")

    assert version(spark, path) == versions[0]
    if point == "delta.after_commit":
        assert rerun.skipped and version(spark, delta.state_path) == versions[1]
    else:
        assert (rerun.skipped, rerun.deletes, operation(spark, delta.state_path)) == (
            False,
            1,
            "MERGE",
        )
    assert state(spark, path) == {(1, "a", 1)}
    assert rerun.rows_in_table == 1
    late = delta.apply(changes(spark, [(2, "late", 2, "U", "0", "p0")]), 1, "w")
    assert late.stale == 1

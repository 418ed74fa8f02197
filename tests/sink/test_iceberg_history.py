"""What is specific to SCD type 2 on Iceberg; the shared rules are in tests/contract
(test_scd2.py, test_history_retention.py).

Tables, snapshots and rows are read the way any Iceberg reader sees them: PyIceberg on
the table's current metadata file, no Spark.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.table import StaticTable
from pyspark.sql import DataFrame, SparkSession

from sinks.crash import SimulatedCrashError
from sinks.iceberg import IcebergHistoryEngine

SCHEMA = "id int, name string, day int, _op string, _seq string, _pos string, _commit_ts timestamp"
AT = dt.datetime(2024, 5, 1, 12)


def changes(spark: SparkSession, rows: Sequence[tuple[object, ...]]) -> DataFrame:
    """(id, name, day, op, seq, pos) rows; each commits `seq` minutes after AT."""
    timed = [(*r, AT + dt.timedelta(minutes=float(str(r[4] or 0)))) for r in rows]
    return spark.createDataFrame(timed, SCHEMA)


def engine(spark: SparkSession, root: Path, **options: Any) -> IcebergHistoryEngine:
    return IcebergHistoryEngine(
        spark, str(root), table="t", keys=["id"], spark_catalog=f"iceberg_{root.name}", **options
    )


def table(root: Path, name: str = "t") -> StaticTable:
    metadata = root / "cdc" / name / "metadata"
    current = metadata / f"v{(metadata / 'version-hint.text').read_text().strip()}.metadata.json"
    return StaticTable.from_metadata(str(current))


def snapshots(root: Path, name: str = "t") -> list[tuple[str, str]]:
    """(writer, batch) of the table's snapshots, oldest first."""
    found = table(root, name).metadata.snapshots
    summaries = [s.summary.additional_properties if s.summary else {} for s in found]
    return [(s.get("cdc.writer", ""), s.get("cdc.batch", "")) for s in summaries]


def rows(root: Path, columns: Sequence[str], name: str = "t") -> list[tuple[Any, ...]]:
    """Every row (duplicates kept), sorted."""
    data = table(root, name).scan().to_arrow().select(list(columns)).to_pydict()
    return sorted(zip(*(data[c] for c in columns), strict=True), key=repr)


@pytest.mark.parametrize(
    "point", ["iceberg.history.after_data_commit", "iceberg.history.after_commit"]
)
def test_history_crash_then_rerun_adds_each_version_and_event_once(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    root = tmp_path / point.replace(".", "_")
    first = changes(spark, [(1, "a", 1, "I", "1", "p1")])
    engine(spark, root).apply(first, 0, "w")
    second = changes(spark, [(1, "b", 1, "U", "2", "p2"), (1, None, None, "D", "3", "p3")])
    monkeypatch.setenv("STREAM_CDC_CRASH_MODE", "raise")
    monkeypatch.setenv("STREAM_CDC_CRASH_AT", point)
    with pytest.raises(SimulatedCrashError):
        engine(spark, root).apply(second, 1, "w")
    monkeypatch.delenv("STREAM_CDC_CRASH_AT")
    before = len(snapshots(root)), len(snapshots(root, "t__cdc_events"))

    restarted = engine(spark, root)  # a new process: it knows nothing yet
    rerun = restarted.apply(second, 1, "w")  # Spark re-runs the uncommitted batch
    after = len(snapshots(root)), len(snapshots(root, "t__cdc_events"))
    if point.endswith("after_commit"):
        assert rerun.skipped and after == before
    else:  # the events table is rolled forward, the history is not written twice
        assert (rerun.skipped, rerun.upserts, rerun.deletes) == (False, 1, 1)
        assert after == (before[0], before[1] + 1)
    assert snapshots(root) == [("w", "0"), ("w", "1")]
    assert restarted.apply(first, 0, "w").skipped
    # A late change (seq 1.5) lands between the two versions: the events are all there.
    restarted.apply(changes(spark, [(1, "late", 1, "U", "1.5", "p4")]), 2, "w")

    assert rows(root, ("_seq", "name", "is_current")) == [
        ("1", "a", False),
        ("1.5", "late", False),
        ("2", "b", False),
    ]
    assert rows(root, ("_cdc_pos", "_cdc_deleted"), "t__cdc_events") == [
        ("p1", False),
        ("p2", False),
        ("p3", True),
        ("p4", False),
    ]


def test_a_replayed_batch_writes_no_snapshot(spark: SparkSession, tmp_path: Path) -> None:
    history = engine(spark, tmp_path)
    batch = changes(spark, [(1, "a", 1, "I", "1", "p1"), (1, "b", 1, "U", "2", "p2")])
    history.apply(batch, 0, "w")
    written = snapshots(tmp_path), snapshots(tmp_path, "t__cdc_events")

    same = history.apply(batch, 0, "w")
    fresh = engine(spark, tmp_path).apply(batch, 0, "w")  # after a restart: read from the table
    other = history.apply(batch, 0, "another")  # a new checkpoint: every change is known

    assert same.skipped and fresh.skipped and not other.skipped
    assert (other.upserts, other.deletes, other.stale) == (0, 0, 2)
    assert (snapshots(tmp_path), snapshots(tmp_path, "t__cdc_events")) == written
    assert written == ([("w", "0")], [("w", "0")])
    events = table(tmp_path, "t__cdc_events").metadata.snapshots[-1].summary
    assert events is not None and events.operation.value == "append"  # insert-only MERGE


def test_history_and_events_store_reserved_names_and_partition_by_what_they_hold(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Each version stays in its own day; the events table holds no day to partition by."""
    history = engine(spark, tmp_path, partition_by=["day"])
    history.apply(
        changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, "b", 1, "I", "1", "p2")]), 0, "w"
    )
    result = history.apply(changes(spark, [(1, "a2", 2, "U", "2", "p3")]), 1, "w")  # moves

    assert rows(tmp_path, ("id", "name", "day", "is_current", "_cdc_pos")) == [
        (1, "a", 1, False, "p1"),
        (1, "a2", 2, True, "p3"),
        (2, "b", 1, True, "p2"),
    ]
    assert (result.rows_in_table, result.changes_in, result.upserts) == (3, 1, 1)
    columns = {
        n: [f.name for f in table(tmp_path, n).schema().fields] for n in ("t", "t__cdc_events")
    }
    assert columns == {
        "t": ["id", "name", "day", "valid_from", "valid_to", "is_current", "_seq", "_cdc_pos"],
        "t__cdc_events": ["id", "_seq", "_cdc_pos", "_cdc_deleted", "_commit_ts"],
    }
    specs = {n: [f.name for f in table(tmp_path, n).spec().fields] for n in ("t", "t__cdc_events")}
    assert specs == {"t": ["day"], "t__cdc_events": []}


def test_transforms_of_keys_partition_the_events_too(spark: SparkSession, tmp_path: Path) -> None:
    history = engine(spark, tmp_path, transforms=["truncate(10, name)", "bucket(4, id)"])
    history.apply(changes(spark, [(1, "a", 1, "I", "1", "p1")]), 0, "w")
    history.apply(changes(spark, [(1, None, None, "D", "2", "p2")]), 1, "w")

    specs = {
        n: [str(f.transform) for f in table(tmp_path, n).spec().fields]
        for n in ("t", "t__cdc_events")
    }
    assert specs == {"t": ["truncate[10]", "bucket[4]"], "t__cdc_events": ["bucket[4]"]}
    assert rows(tmp_path, ("id", "name", "is_current")) == [(1, "a", False)]


def test_a_new_column_is_added_to_the_history_and_older_versions_read_null(
    spark: SparkSession, tmp_path: Path
) -> None:
    history = engine(spark, tmp_path)
    history.apply(changes(spark, [(1, "a", 1, "I", "1", "p1")]), 0, "w")
    wider = f"id int, name string, day int, note string, {SCHEMA.split(', ', 3)[3]}"
    row = (1, "b", 1, "n", "U", "2", "p2", AT + dt.timedelta(minutes=2))
    history.apply(spark.createDataFrame([row], wider), 1, "w")

    assert rows(tmp_path, ("id", "name", "note", "is_current")) == [
        (1, "a", None, False),
        (1, "b", "n", True),
    ]

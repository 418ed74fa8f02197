"""What the Iceberg engine's tables are made of: their write modes (the published table's,
the key table's own), the size of their files and how reads pack them.

Read the way any Iceberg reader sees them: PyIceberg on the table's current metadata file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sinks.iceberg import IcebergEngine, IcebergHistoryEngine
from sinks.iceberg.catalog import OPEN_FILE_COST, TARGET_FILE_SIZE
from tests.contract.targets import iceberg_rows
from tests.sink.test_iceberg import SCHEMA, changes, engine, snapshots, table_metadata


@pytest.mark.parametrize(("mode", "deletes"), [("merge-on-read", True), ("copy-on-write", False)])
def test_write_mode_decides_between_delete_files_and_rewritten_files(
    spark: SparkSession, tmp_path: Path, mode: str, deletes: bool
) -> None:
    root = tmp_path / mode.replace("-", "_")
    table = engine(spark, root, mode)
    table.apply(changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, "b", 1, "I", "1", "p2")]), 0, "w")
    table.apply(
        changes(spark, [(1, "a2", 1, "U", "2", "p3"), (2, None, None, "D", "2", "p4")]), 1, "w"
    )

    last = snapshots(root)[-1]
    assert (int(last.get("added-delete-files", "0")) > 0) is deletes
    assert iceberg_rows(root / "cdc" / "t", ("id", "name", "day")) == {(1, "a2", 1)}


def _delete_files_added(root: Path, table: str) -> int:
    return int(snapshots(root, table)[-1].get("added-delete-files", "0"))


def _two_batches(table: IcebergEngine, spark: SparkSession, first: int = 0) -> None:
    """Inserts, then an update and a delete of keys in existing files."""
    table.apply(
        changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, "b", 1, "I", "1", "p2")]), first, "w"
    )
    table.apply(
        changes(spark, [(1, "a2", 1, "U", "2", "p3"), (2, None, None, "D", "2", "p4")]),
        first + 1,
        "w",
    )


@pytest.mark.parametrize(
    ("state_mode", "deletes"), [("copy-on-write", False), ("merge-on-read", True)]
)
def test_the_key_table_has_its_own_write_mode_copy_on_write_by_default(
    spark: SparkSession, tmp_path: Path, state_mode: str, deletes: bool
) -> None:
    """Every batch reads the key table: copy-on-write rewrites the files a batch's keys are
    in, so no delete file accumulates for later reads to apply, whatever the published
    table's mode (here merge-on-read, which keeps its delete files)."""
    root = tmp_path / f"state_{state_mode.replace('-', '_')}"  # names its session catalog
    _two_batches(engine(spark, root, "merge-on-read", state_mode), spark)

    assert _delete_files_added(root, "t") > 0
    assert (_delete_files_added(root, "t__cdc_keys") > 0) is deletes
    properties = table_metadata(root, "t__cdc_keys").metadata.properties
    assert {properties[f"write.{op}.mode"] for op in ("merge", "update", "delete")} == {state_mode}
    assert iceberg_rows(root / "cdc" / "t", ("id", "name", "day")) == {(1, "a2", 1)}


def test_a_merge_on_read_key_table_becomes_copy_on_write_when_the_engine_opens_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A key table an older version made merge-on-read is switched when an engine first
    opens it (one metadata commit); its next MERGE rewrites files instead of adding
    delete files, and the tombstone it already holds still refuses a late change."""
    root = tmp_path / "state_switched"
    _two_batches(engine(spark, root, state_mode="merge-on-read"), spark)
    assert _delete_files_added(root, "t__cdc_keys") > 0

    reopened = engine(spark, root)
    late = reopened.apply(changes(spark, [(2, "late", 1, "U", "1", "p0")]), 2, "w")
    reopened.apply(changes(spark, [(1, "a3", 1, "U", "3", "p5")]), 3, "w")

    assert late.stale == 1
    assert _delete_files_added(root, "t__cdc_keys") == 0
    assert (
        table_metadata(root, "t__cdc_keys").metadata.properties["write.merge.mode"]
        == "copy-on-write"
    )
    assert table_metadata(root, "t").metadata.properties["write.merge.mode"] == "merge-on-read"
    assert iceberg_rows(root / "cdc" / "t", ("id", "name", "day")) == {(1, "a3", 1)}


@pytest.mark.parametrize("size", [1, None])
def test_a_tiny_target_file_size_splits_a_partition_into_several_files_the_default_keeps_one(
    spark: SparkSession, tmp_path: Path, size: int | None
) -> None:
    """Iceberg rolls a task's data file once it holds the target size, checked every 1,000
    rows: at 1 byte each 1,000 rows of a partition make a file; at its default (512 MiB) the
    batch's rows of a partition stay in one. Both the table and its key table."""
    root = tmp_path / f"size_{size}"
    table = IcebergEngine(
        spark, str(root), table="t", keys=["id"], partition_by=["day"],
        spark_catalog=f"iceberg_{root.name}", target_file_size=size,
    )  # fmt: skip
    arrived = 2_500
    batch = [(i, f"n{i}", 1, "I", "1", f"p{i:05d}") for i in range(arrived)]  # one partition
    table.apply(changes(spark, batch), 0, "w")

    for name in ("t", "t__cdc_keys"):
        files = [task.file for task in table_metadata(root, name).scan().plan_files()]
        assert sum(f.record_count for f in files) == arrived
        if size is None:
            assert len(files) == 1, name
        else:
            assert len(files) > 1 and max(f.record_count for f in files) <= 1_000, name


def test_the_engines_tables_pack_small_files_and_their_deletes_into_fewer_read_tasks(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Merge-on-read: five batches update a key of one partition, each adding a data file
    and a delete file for the file that held the key. Iceberg weighs a small file as the
    open cost times one plus its delete files, and packs a scan's files into tasks of
    (here) 16 MiB: at its default cost (4 MiB) the six files take several tasks; at the
    cost the engine sets on its tables, fewer, whatever reads them. (The key table is
    made merge-on-read here: by default it is copy-on-write and keeps one file.)"""
    root = tmp_path / "packed"
    table = IcebergEngine(
        spark, str(root), table="t", keys=["id"], partition_by=["day"],
        spark_catalog=f"iceberg_{root.name}", state_write_mode="merge-on-read",
    )  # fmt: skip
    table.apply(changes(spark, [(i, f"n{i}", 1, "I", "1", f"p{i:03d}") for i in range(20)]), 0, "w")
    for b in range(1, 6):
        table.apply(changes(spark, [(b, f"v{b}", 1, "U", str(b + 1), f"q{b}")]), b, "w")

    for name in ("t", "t__cdc_keys"):
        assert table_metadata(root, name).properties.get(OPEN_FILE_COST) == str(1024 * 1024), name
        files = len(list(table_metadata(root, name).scan().plan_files()))
        sql_name = f"iceberg_{root.name}.cdc.{name}"
        tasks = spark.table(sql_name).rdd.getNumPartitions()
        at_default = (
            spark.read.option("file-open-cost", str(4 * 1024 * 1024))
            .table(sql_name)
            .rdd.getNumPartitions()
        )
        assert files == 6, name
        assert tasks < at_default, name
    assert {r[1] for r in iceberg_rows(root / "cdc" / "t", ("id", "name"))} >= {"v5", "n19"}


@pytest.mark.parametrize("kind", [IcebergEngine, IcebergHistoryEngine])
def test_an_existing_table_takes_the_target_file_size_at_its_next_batch_and_keeps_it(
    spark: SparkSession, tmp_path: Path, kind: type[IcebergEngine | IcebergHistoryEngine]
) -> None:
    """Tables created without the setting get it (ALTER TABLE ... SET TBLPROPERTIES) when an
    engine that has it opens them; an engine without it leaves the table's own."""
    root = tmp_path / f"props_{kind.state_name}"
    names = ("t", f"t__cdc_{kind.state_name}")
    size = 64 * 1024 * 1024

    def batch(batch_id: int, target_file_size: int | None) -> list[str | None]:
        opened = kind(
            spark, str(root), table="t", keys=["id"], partition_by=["day"],
            spark_catalog=f"iceberg_{root.name}", target_file_size=target_file_size,
        )  # fmt: skip
        row = (batch_id, "n", 1, "I", str(batch_id), f"p{batch_id}", dt.datetime(2024, 5, 1))
        opened.apply(spark.createDataFrame([row], SCHEMA), batch_id, "w")
        return [table_metadata(root, n).properties.get(TARGET_FILE_SIZE) for n in names]

    assert batch(0, None) == [None, None]  # Iceberg's default
    assert batch(1, size) == [str(size)] * 2
    assert batch(2, None) == [str(size)] * 2
    assert {r[0] for r in iceberg_rows(root / "cdc" / "t", ("id",))} == {0, 1, 2}


def test_the_key_tables_merge_runs_without_the_runtime_filter_and_its_two_spark_jobs(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copy-on-write, Spark plans a MERGE with a runtime filter of the files that hold a
    matching key (two Spark jobs). The key table's MERGE condition already names the
    partitions of the batch's keys, where the key table keeps about one file each, so the
    engine plans it without: the same batch into two pairs of tables, one engine with the
    filter left on, runs two Spark jobs more, and both end with the same key rows."""
    context = spark.sparkContext
    tracker = context.statusTracker()
    jobs, held = {}, {}
    for name, settings in (("state_default", None), ("state_filtered", {})):
        root = tmp_path / name
        table = IcebergEngine(
            spark, str(root), table="t", keys=["id"], partition_by=["day"],
            spark_catalog=f"iceberg_{root.name}",
        )  # fmt: skip
        if settings is not None:
            monkeypatch.setattr(table, "_state_settings", lambda s=settings: s)
        load = [(i, "n", i % 200, "I", "1", f"p{i:05d}") for i in range(20_000)]
        table.apply(changes(spark, load), 0, "w")
        context.setJobGroup(name, name)
        try:
            batch = [(8, "u", 8, "U", "2", "q1"), (101, "u", 101, "U", "2", "q2")]
            table.apply(changes(spark, batch), 1, "w")
        finally:
            context.setJobGroup(None, None)  # type: ignore[arg-type]
        jobs[name] = len(tracker.getJobIdsForGroup(name))
        held[name] = iceberg_rows(root / "cdc" / "t__cdc_keys", ("id", "_seq"))

    assert jobs["state_filtered"] - jobs["state_default"] == 2, jobs
    assert held["state_default"] == held["state_filtered"]
    assert len(held["state_default"]) == 20_000 and (101, "2") in held["state_default"]

"""The lake and Delta engines on `s3a://` paths (moto's S3), and the Glue Data Catalog;
DMS Parquet files read from `s3a://`.

Real Spark with hadoop-aws against a real moto server on loopback; tiny batches.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from config import AwsConfig, LakeTarget, load_config
from local.aws_servers import LOCAL_ENV
from runtime.session import configure_s3
from sinks.catalog import GlueTable
from sinks.crash import SimulatedCrashError
from sinks.delta import DeltaEngine
from sinks.delta.history import DeltaHistoryEngine
from sinks.factory import make_engine
from sinks.lake import LakeEngine
from sinks.storage import Storage
from sources.parquet_read import read_in_table_types
from tests.integration.test_lake_text_load import _run, _state, spy_loads
from tests.integration.test_shared_decoding import FIRST, LOAD, SECOND
from tests.sink.test_delta import changes
from tests.sink.test_delta import state as delta_state
from tests.unit.test_parquet_widening import spark_jobs
from transforms.names import FILE

DEMO = Path(__file__).resolve().parents[2] / "conf" / "demo.yaml"


@pytest.fixture(scope="module")
def aws(spark: SparkSession, moto_endpoint: str) -> AwsConfig:
    """The job's S3 settings applied to the test session, at runtime as the job does."""
    config = AwsConfig(endpoints={"s3": moto_endpoint, "glue": moto_endpoint})
    configure_s3(spark, config)
    # The JVM may have started before the local credentials were exported: give them
    # to S3A directly (the job relies on S3A's default chain: environment, role).
    hadoop: Any = spark.sparkContext._jsc.hadoopConfiguration()
    hadoop.set("fs.s3a.access.key", LOCAL_ENV["AWS_ACCESS_KEY_ID"])
    hadoop.set("fs.s3a.secret.key", LOCAL_ENV["AWS_SECRET_ACCESS_KEY"])
    return config


@pytest.fixture
def bucket(aws: AwsConfig) -> Iterator[str]:
    name = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=aws.endpoints["s3"]).create_bucket(Bucket=name)
    yield name


@pytest.fixture
def crash_raise(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("STREAM_CDC_CRASH_MODE", "raise")
    return monkeypatch


@pytest.fixture
def glue(aws: AwsConfig) -> Any:
    return boto3.client("glue", endpoint_url=aws.endpoints["glue"], region_name=aws.region)


def catalog(glue: Any, path: str) -> GlueTable:
    return GlueTable(
        glue, database="cdc_s3_tests", table=f"t_{uuid.uuid4().hex[:8]}", location=path
    )


def lake(spark: SparkSession, path: str, entry: GlueTable | None = None) -> LakeEngine:
    return LakeEngine(spark, path, keys=["id"], partition_by=["day"], catalog=entry)


def lake_state(spark: SparkSession, path: str) -> set[tuple[object, ...]]:
    return {tuple(r) for r in spark.read.parquet(path).select("id", "name", "day").collect()}


def s3_partitions(aws: AwsConfig, bucket: str, prefix: str) -> set[tuple[str, ...]]:
    """Partition folders holding objects, listed straight from S3."""
    s3 = boto3.client("s3", endpoint_url=aws.endpoints["s3"])
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/", Delimiter="/")
    folders = [p["Prefix"][len(prefix) + 1 :].rstrip("/") for p in listed.get("CommonPrefixes", [])]
    return {(f.split("=", 1)[1],) for f in folders if f.startswith("day=")}


def glue_partitions(glue: Any, entry: GlueTable) -> set[tuple[str, ...]]:
    got = glue.get_partitions(DatabaseName=entry.database, TableName=entry.table)
    return {tuple(p["Values"]) for p in got["Partitions"]}


def test_lake_on_s3a_applies_changes_and_glue_partitions_match_s3(
    spark: SparkSession, aws: AwsConfig, bucket: str, glue: Any
) -> None:
    path = f"s3a://{bucket}/lake/t"
    entry = catalog(glue, path)
    engine = lake(spark, path, entry)
    first = [(1, "a", 1, "I", "1", "p1"), (2, "b", 1, "I", "1", "p2"), (3, "c", 2, "I", "1", "p3")]
    engine.apply(changes(spark, first), 0, "w")
    assert glue_partitions(glue, entry) == s3_partitions(aws, bucket, "lake/t") == {("1",), ("2",)}

    # An update in place, a row moving to a day the lake never had, a delete emptying day 2.
    second = [
        (1, "a2", 1, "U", "2", "q1"),
        (2, "b2", 3, "U", "2", "q2"),
        (3, None, None, "D", "2", "q3"),
    ]
    result = engine.apply(changes(spark, second), 1, "w")

    assert (result.upserts, result.deletes, result.rows_in_table) == (2, 1, 2)
    assert lake_state(spark, path) == {(1, "a2", 1), (2, "b2", 3)}
    assert glue_partitions(glue, entry) == s3_partitions(aws, bucket, "lake/t") == {("1",), ("3",)}
    table = glue.get_table(DatabaseName=entry.database, Name=entry.table)["Table"]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == [("id", "int"), ("name", "string")]
    assert [(c["Name"], c["Type"]) for c in table["PartitionKeys"]] == [("day", "int")]
    assert table["StorageDescriptor"]["Location"] == f"s3://{bucket}/lake/t"
    # Commit documents are written once under their final name (no rename on S3).
    keys = [
        o["Key"]
        for o in boto3.client("s3", endpoint_url=aws.endpoints["s3"]).list_objects_v2(
            Bucket=bucket, Prefix="lake/t/_cdc/manifest/"
        )["Contents"]
    ]
    assert keys and not [k for k in keys if k.endswith(".tmp")]
    with pytest.raises(FileExistsError):
        Storage(spark, path).write_text_atomic(f"s3a://{bucket}/{keys[0]}", "{}")
    # Re-registering what exists (a restarted job) is not an error.
    lake(spark, path, catalog(glue, path)).recover()
    engine.recover()
    assert glue_partitions(glue, entry) == {("1",), ("3",)}


def test_lake_on_s3a_rolls_a_committed_batch_forward_and_registers_it_on_restart(
    spark: SparkSession, bucket: str, glue: Any, crash_raise: pytest.MonkeyPatch
) -> None:
    path = f"s3a://{bucket}/lake/t"
    entry = catalog(glue, path)
    lake(spark, path, entry).apply(changes(spark, [(1, "a", 1, "I", "1", "p1")]), 0, "w")
    second = changes(spark, [(1, "a2", 4, "U", "2", "q1"), (2, "b", 5, "I", "2", "q2")])
    crash_raise.setenv("STREAM_CDC_CRASH_AT", "lake.mid_publish")
    with pytest.raises(SimulatedCrashError):
        lake(spark, path, entry).apply(second, 1, "w")
    crash_raise.delenv("STREAM_CDC_CRASH_AT")

    fresh = GlueTable(glue, database=entry.database, table=entry.table, location=path)
    restarted = lake(spark, path, fresh)
    restarted.recover()  # the manifest was committed: finish moving files, reconcile
    assert lake_state(spark, path) == {(1, "a2", 4), (2, "b", 5)}
    assert glue_partitions(glue, entry) == {("4",), ("5",)}  # day 1 emptied: dropped
    assert restarted.apply(second, 1, "w").skipped  # Spark's re-run of the batch: a no-op
    assert lake_state(spark, path) == {(1, "a2", 4), (2, "b", 5)}


def test_delta_merge_on_s3a_and_registered_as_a_native_delta_table(
    spark: SparkSession, bucket: str, glue: Any
) -> None:
    path = f"s3a://{bucket}/delta/t"
    entry = catalog(glue, path)
    engine = DeltaEngine(spark, path, keys=["id"], partition_by=["day"], catalog=entry)
    engine.apply(changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, "b", 2, "I", "1", "p2")]), 0, "w")
    engine.apply(
        changes(spark, [(1, "a2", 3, "U", "2", "q1"), (2, None, None, "D", "2", "q2")]), 1, "w"
    )
    assert delta_state(spark, path) == {(1, "a2", 3)}
    table = glue.get_table(DatabaseName=entry.database, Name=entry.table)["Table"]
    assert table["Parameters"]["table_type"] == "DELTA"
    assert table["StorageDescriptor"]["Location"] == f"s3://{bucket}/delta/t"
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["id", "name", "day"]


def test_delta_history_on_s3a_is_registered_with_its_history_columns(
    spark: SparkSession, bucket: str, glue: Any
) -> None:
    path = f"s3a://{bucket}/delta/h"
    entry = catalog(glue, path)
    history = DeltaHistoryEngine(spark, path, keys=["id"], partition_by=["day"], catalog=entry)
    history.apply(changes(spark, [(1, "a", 1, "I", "1", "p1")]), 0, "w")
    history.apply(changes(spark, [(1, "a2", 1, "U", "2", "q1")]), 1, "w")

    versions = spark.read.format("delta").load(path).select("name", "is_current").collect()
    assert sorted(tuple(r) for r in versions) == [("a", False), ("a2", True)]
    table = glue.get_table(DatabaseName=entry.database, Name=entry.table)["Table"]
    assert table["Parameters"]["table_type"] == "DELTA"
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [
        "id",
        "name",
        "day",
        "valid_from",
        "valid_to",
        "is_current",
        "_seq",
        "_pos",
    ]


def test_make_engine_registers_tables_when_the_target_names_a_catalog(
    spark: SparkSession, aws: AwsConfig, bucket: str
) -> None:
    config = load_config(
        DEMO,
        [
            f"target.path=s3a://{bucket}/lake",
            "target.catalog.database=cdc_demo",
            f"aws.endpoints.glue={aws.endpoints['glue']}",
        ],
    )
    assert isinstance(config.target, LakeTarget)
    built = make_engine(spark, config, config.explicit_tables[0])
    assert isinstance(built, LakeEngine)
    assert isinstance(built._catalog, GlueTable)
    assert built._catalog.name == "cdc_demo.cases"
    assert built._catalog.location == f"s3://{bucket}/lake/cases"


def test_storage_lists_files_under_a_prefix_recursively(spark: SparkSession, bucket: str) -> None:
    root = f"s3a://{bucket}/landing"
    storage = Storage(spark, root)
    for key in ("public/cases/1.csv", "public/cases/2.csv", "public/other/3.csv"):
        storage.write_text_atomic(f"{root}/{key}", "x")
    listed = storage.list_files(root)
    assert [p for p, _ in listed] == [
        f"{root}/public/cases/1.csv",
        f"{root}/public/cases/2.csv",
        f"{root}/public/other/3.csv",
    ]
    assert all(at > 1_700_000_000_000 for _, at in listed)  # unix ms
    assert storage.list_files(f"s3a://{bucket}/missing") == []


def test_dms_parquet_files_on_s3a_from_both_sides_of_a_widening_are_read(
    spark: SparkSession, aws: AwsConfig, bucket: str
) -> None:
    """Footers on S3 are read on the driver (no Spark job); every value in the table's type."""
    s3 = boto3.client("s3", endpoint_url=aws.endpoints["s3"])
    files = {
        "LOAD00000001.parquet": pa.array([1, 2**31 - 1], pa.int32()),  # before the widening
        "20210506-000000000.parquet": pa.array([2**31 + 7, -(2**62)], pa.int64()),
    }
    for name, ids in files.items():
        out = pa.BufferOutputStream()
        pq.write_table(pa.table({"Op": ["I", "U"], "id": ids}), out)
        s3.put_object(Bucket=bucket, Key=f"shop/t/{name}", Body=out.getvalue().to_pybytes())
    paths = [f"s3a://{bucket}/shop/t/{name}" for name in files]

    with spark_jobs(spark, "s3a-footers") as jobs:
        rows = read_in_table_types(spark, paths, [("Op", "string"), ("id", "bigint")])

    assert jobs == []
    assert sorted((r["id"], r[FILE].rsplit("/", 1)[-1]) for r in rows.collect()) == [
        (-(2**62), "20210506-000000000.parquet"),
        (1, "LOAD00000001.parquet"),
        (2**31 - 1, "LOAD00000001.parquet"),
        (2**31 + 7, "20210506-000000000.parquet"),
    ]


def test_new_lake_tables_on_s3_are_staged_together_too(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bucket: str
) -> None:
    """On S3 (the local S3 server), the tasks write through Arrow's S3 file system, on the
    endpoint and with the credentials S3A has: the same tables as each applied alone."""
    loads = spy_loads(monkeypatch)
    # Both plain tables new in the first batch, then a batch over the files the tasks wrote.
    waves = [{"orders": [LOAD, FIRST], "rates": [LOAD, FIRST]}, {"orders": [SECOND]}]
    lake = f"s3a://{bucket}"
    _run(spark, tmp_path / "together", 3, waves, lake=f"{lake}/together")
    assert loads == [["orders", "rates"]]
    monkeypatch.setattr(LakeEngine, "takes_text", property(lambda self: False))
    _run(spark, tmp_path / "alone", 3, waves, lake=f"{lake}/alone")
    for name in ("orders", "rates"):
        got = _state(spark, f"{lake}/together/{name}")
        assert got == _state(spark, f"{lake}/alone/{name}"), name
        assert got["rows"]

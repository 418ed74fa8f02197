"""The Iceberg engine with the Glue Data Catalog (`target.catalog: glue`) on moto's Glue and S3.

Real Spark with Iceberg's own GlueCatalog and S3FileIO (the AWS SDK v2 of the pinned
iceberg-aws bundle) against a real moto server on loopback; the tables are read back by
PyIceberg's Glue catalog, a reader that shares no code with the writer. What moto does not
emulate (Glue's optimistic locking by VersionId) is in docs/aws.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from pyiceberg.catalog import load_catalog
from pyspark.sql import DataFrame, SparkSession

from config import AwsConfig, IcebergTarget, load_config
from local.aws_servers import LOCAL_ENV
from sinks.factory import make_engine
from sinks.iceberg import IcebergEngine
from sinks.iceberg.conf import GLUE_CATALOG, S3_FILE_IO, SPARK_CATALOG, catalog_properties

DEMO = Path(__file__).resolve().parents[2] / "conf" / "demo.yaml"
SCHEMA = "id int, name string, day int, _op string, _seq string, _pos string, _commit_ts timestamp"


@pytest.fixture(scope="module")
def aws(spark: SparkSession, moto_endpoint: str) -> AwsConfig:
    """The job's aws section for moto. The SDK v2 reads credentials from the environment,
    or first from Java system properties: the test JVM may have started before the local
    credentials were exported, so they are given to it that way (the job relies on the
    default chain: environment, profile, role)."""
    system: Any = spark.sparkContext._jvm.java.lang.System  # type: ignore[union-attr]
    system.setProperty("aws.accessKeyId", LOCAL_ENV["AWS_ACCESS_KEY_ID"])
    system.setProperty("aws.secretAccessKey", LOCAL_ENV["AWS_SECRET_ACCESS_KEY"])
    return AwsConfig(region="us-east-1", endpoints={"s3": moto_endpoint, "glue": moto_endpoint})


@pytest.fixture
def warehouse(aws: AwsConfig) -> Iterator[str]:
    bucket = f"iceberg-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=aws.endpoints["s3"]).create_bucket(Bucket=bucket)
    yield f"s3://{bucket}/warehouse"


def glue_engine(
    spark: SparkSession, tmp_path: Path, aws: AwsConfig, warehouse: str, namespace: str
) -> IcebergEngine:
    """The engine a job config with `catalog: glue` builds (sinks/factory.py)."""
    config = tmp_path / "job.yaml"
    config.write_text(
        f"""
name: glue_test
checkpoint: {tmp_path / "checkpoint"}
quarantine: {{path: {tmp_path / "quarantine"}}}
source: {{kind: files, format: dms-csv, path: {tmp_path / "landing"}}}
tables:
  - name: t
    keys: [id]
    partition_by: [day]
    columns: [{{name: id, type: int}}, {{name: name, type: string}}, {{name: day, type: int}}]
target:
  kind: iceberg
  catalog: glue
  path: {warehouse}
  namespace: {namespace}
  spark_catalog: glue_{namespace}
aws:
  region: us-east-1
  endpoints: {{s3: "{aws.endpoints["s3"]}", glue: "{aws.endpoints["glue"]}"}}
""",
        encoding="utf-8",
    )
    job = load_config(config)
    engine = make_engine(spark, job, job.explicit_tables[0])
    assert isinstance(engine, IcebergEngine)
    return engine


def changes(spark: SparkSession, rows: Sequence[tuple[object, ...]]) -> DataFrame:
    return spark.createDataFrame([(*r, None) for r in rows], SCHEMA)


def read_back(endpoint: str, namespace: str, table: str) -> set[tuple[Any, ...]]:
    """The table's rows as PyIceberg reads them through Glue (moto) and S3 (moto)."""
    catalog = load_catalog(
        "moto",
        **{
            "type": "glue",
            "glue.endpoint": endpoint,
            "glue.region": "us-east-1",
            "s3.endpoint": endpoint,
            "s3.region": "us-east-1",
            "s3.access-key-id": LOCAL_ENV["AWS_ACCESS_KEY_ID"],
            "s3.secret-access-key": LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
        },
    )
    rows = catalog.load_table(f"{namespace}.{table}").scan().to_arrow().to_pylist()
    return {tuple(r.values()) for r in rows}


def test_a_glue_catalog_keeps_the_tables_in_glue_and_their_files_under_the_warehouse(
    spark: SparkSession, tmp_path: Path, aws: AwsConfig, warehouse: str
) -> None:
    namespace = f"cdc_{uuid.uuid4().hex[:8]}"
    engine = glue_engine(spark, tmp_path, aws, warehouse, namespace)
    assert engine.location == f"{warehouse}/{namespace}/t"

    engine.apply(changes(spark, [(1, "a", 1, "I", "1", "p1"), (2, "b", 1, "I", "1", "p2")]), 0, "w")
    moved = changes(spark, [(1, "a2", 2, "U", "2", "p3"), (2, None, None, "D", "2", "p4")])
    engine.apply(moved, 1, "w")
    late = engine.apply(
        changes(spark, [(2, "late", 1, "U", "1", "p5"), (3, "c", 2, "I", "1", "p6")]), 2, "w"
    )
    replay = glue_engine(spark, tmp_path, aws, warehouse, namespace).apply(moved, 1, "w")

    assert (late.stale, late.upserts, late.rows_in_table) == (1, 1, 2)  # the tombstone held
    assert replay.skipped  # the writer's last batch, read from snapshots Glue points to
    endpoint = aws.endpoints["s3"]
    assert read_back(endpoint, namespace, "t") == {(1, "a2", 2), (3, "c", 2)}
    glue = boto3.client("glue", endpoint_url=endpoint, region_name="us-east-1")
    database = glue.get_database(Name=namespace)["Database"]
    assert database["LocationUri"] == f"{warehouse}/{namespace}"
    for table in ("t", "t__cdc_keys"):
        parameters = glue.get_table(DatabaseName=namespace, Name=table)["Table"]["Parameters"]
        assert parameters["table_type"] == "ICEBERG"
        assert parameters["metadata_location"].startswith(f"{warehouse}/{namespace}/{table}/")
    bucket, prefix = warehouse.removeprefix("s3://").split("/", 1)
    listed = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(
        Bucket=bucket, Prefix=f"{prefix}/{namespace}/t/data/"
    )
    assert listed.get("KeyCount", 0) > 0


def test_the_catalog_properties_are_the_names_the_pinned_iceberg_reads(spark: SparkSession) -> None:
    """Each property conf.py sets is a constant of Iceberg's own classes in the jars the
    job runs with (CatalogProperties, AwsProperties, AwsClientProperties,
    S3FileIOProperties, CatalogUtil), and the classes it names load."""
    iceberg: Any = spark.sparkContext._jvm.org.apache.iceberg  # type: ignore[union-attr]
    aws = AwsConfig(region="us-east-1", endpoints={"s3": "http://s3.local", "glue": "http://g"})
    glue = IcebergTarget(kind="iceberg", catalog="glue", path="s3://bkt/w")
    rest = IcebergTarget(kind="iceberg", catalog="rest", catalog_uri="http://c", path="w")

    assert set(catalog_properties(glue, aws)) == {
        iceberg.CatalogProperties.CATALOG_IMPL,
        iceberg.CatalogProperties.WAREHOUSE_LOCATION,
        iceberg.CatalogProperties.FILE_IO_IMPL,
        iceberg.aws.AwsClientProperties.CLIENT_REGION,
        iceberg.aws.AwsProperties.GLUE_CATALOG_ENDPOINT,
        iceberg.aws.s3.S3FileIOProperties.ENDPOINT,
        iceberg.aws.s3.S3FileIOProperties.PATH_STYLE_ACCESS,
    }
    assert set(catalog_properties(rest, aws)) == {
        iceberg.CatalogUtil.ICEBERG_CATALOG_TYPE,
        iceberg.CatalogProperties.URI,
        iceberg.CatalogProperties.WAREHOUSE_LOCATION,
    }
    assert iceberg.CatalogUtil.ICEBERG_CATALOG_TYPE_REST == "rest"
    loader: Any = spark.sparkContext._jvm.org.apache.spark.util.Utils  # type: ignore[union-attr]
    for name in (GLUE_CATALOG, S3_FILE_IO, SPARK_CATALOG):
        assert loader.classForName(name, True, False).getName() == name


@pytest.mark.parametrize(
    ("overrides", "location", "setting"),
    [
        (
            ["target.catalog=glue", "target.path=s3://bkt-w/iceberg"],
            "s3://bkt-w/iceberg/cdc/cases",
            ("catalog-impl", GLUE_CATALOG),
        ),
        (
            ["target.catalog=rest", "target.catalog_uri=http://127.0.0.1:9/", "target.path=wh"],
            "iceberg.cdc.cases",  # the server places the table: its name is where it is
            ("uri", "http://127.0.0.1:9/"),
        ),
    ],
)
def test_the_factory_gives_the_engine_the_targets_catalog(
    spark: SparkSession, overrides: list[str], location: str, setting: tuple[str, str]
) -> None:
    config = load_config(DEMO, ["target.kind=iceberg", *overrides])

    engine = make_engine(spark, config, config.explicit_tables[0])

    assert isinstance(engine, IcebergEngine)
    assert engine.location == location
    key, value = setting
    assert engine._catalog.settings.conf[f"spark.sql.catalog.iceberg.{key}"] == value


def test_a_commit_from_a_stale_view_of_the_table_fails_instead_of_overwriting(
    spark: SparkSession, tmp_path: Path, aws: AwsConfig, warehouse: str
) -> None:
    """Two writers of one table: the one that read the table before the other committed is
    refused by Iceberg's check of the metadata location Glue holds (moto does not check
    UpdateTable's VersionId, which on AWS guards the remaining race)."""
    namespace = f"cdc_{uuid.uuid4().hex[:8]}"
    engine = glue_engine(spark, tmp_path, aws, warehouse, namespace)
    engine.apply(changes(spark, [(1, "a", 1, "I", "1", "p1")]), 0, "w")
    jvm: Any = spark.sparkContext._jvm
    other = jvm.org.apache.iceberg.CatalogUtil.buildIcebergCatalog(
        "other", _java_map(jvm, _catalog_properties(engine)), None
    )
    ident = jvm.org.apache.iceberg.catalog.TableIdentifier.parse(f"{namespace}.t")
    stale = other.loadTable(ident).operations()
    base = stale.current()

    engine.apply(changes(spark, [(2, "b", 1, "I", "1", "p2")]), 1, "w")
    with pytest.raises(Exception, match="CommitFailedException") as error:
        stale.commit(base, base.replaceProperties(_java_map(jvm, {"stale": "true"})))

    assert "is not same as the current Glue location" in str(error.value)
    assert read_back(aws.endpoints["s3"], namespace, "t") == {(1, "a", 1), (2, "b", 1)}


def _catalog_properties(engine: IcebergEngine) -> dict[str, str]:
    """The engine's catalog properties, without Spark's `spark.sql.catalog.<name>.`."""
    conf = engine._catalog.settings.conf
    [key] = [k for k in conf if k.count(".") == 3]
    return {k.removeprefix(f"{key}."): v for k, v in conf.items() if k != key}


def _java_map(jvm: Any, values: dict[str, str]) -> Any:
    mapped = jvm.java.util.HashMap()
    for key, value in values.items():
        mapped.put(key, value)
    return mapped

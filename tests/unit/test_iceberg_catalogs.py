"""`target.catalog` of an Iceberg target: its validation, and the Spark settings built from
it (sinks/iceberg/conf.py), the ones `IcebergCatalog.register` and the Glue job apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from config import AwsConfig, ConfigError, IcebergTarget, load_config
from sinks.iceberg.conf import catalog_settings, spark_catalog_conf

DEMO = Path(__file__).resolve().parents[2] / "conf" / "demo.yaml"
CATALOG = "spark.sql.catalog.iceberg"
LOCAL = AwsConfig(
    region="eu-west-1", endpoints={"s3": "http://127.0.0.1:5000", "glue": "http://127.0.0.1:5001"}
)


def target(**fields: Any) -> IcebergTarget:
    return IcebergTarget.model_validate({"kind": "iceberg", **fields})


def test_the_default_is_the_hadoop_catalog_on_the_path() -> None:
    settings = catalog_settings(target(path="/data/warehouse"), LOCAL)

    assert settings.conf == {
        CATALOG: "org.apache.iceberg.spark.SparkCatalog",
        f"{CATALOG}.type": "hadoop",
        f"{CATALOG}.warehouse": "/data/warehouse",
    }
    assert settings.namespace_location is None  # a Hadoop namespace is a folder


def test_glue_is_icebergs_glue_catalog_with_s3_file_io_and_the_aws_sections_endpoints() -> None:
    glue = target(catalog="glue", path="s3://bucket/lake/", namespace="sales")

    settings = catalog_settings(glue, LOCAL)

    assert settings.conf == {
        CATALOG: "org.apache.iceberg.spark.SparkCatalog",
        f"{CATALOG}.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
        f"{CATALOG}.warehouse": "s3://bucket/lake",
        f"{CATALOG}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{CATALOG}.client.region": "eu-west-1",
        f"{CATALOG}.glue.endpoint": "http://127.0.0.1:5001",
        f"{CATALOG}.s3.endpoint": "http://127.0.0.1:5000",
        f"{CATALOG}.s3.path-style-access": "true",
    }
    assert settings.namespace_location == "s3://bucket/lake/sales"


def test_glue_on_aws_names_no_endpoint_and_no_credential() -> None:
    conf = spark_catalog_conf(
        target(catalog="glue", path="s3://bkt/w"), AwsConfig(region="us-east-2")
    )

    assert {k.removeprefix(f"{CATALOG}.") for k in conf} == {
        CATALOG,
        "catalog-impl",
        "warehouse",
        "io-impl",
        "client.region",
    }


def test_rest_takes_its_uri_an_optional_warehouse_and_extra_properties_last() -> None:
    rest = target(
        catalog="rest",
        catalog_uri="https://catalog.example:8181/api",
        spark_catalog="lakehouse",
        catalog_properties={"warehouse": "analytics", "header.X-Team": "cdc"},
    )

    conf = spark_catalog_conf(rest, LOCAL)

    assert conf == {
        "spark.sql.catalog.lakehouse": "org.apache.iceberg.spark.SparkCatalog",
        "spark.sql.catalog.lakehouse.type": "rest",
        "spark.sql.catalog.lakehouse.uri": "https://catalog.example:8181/api",
        "spark.sql.catalog.lakehouse.warehouse": "analytics",
        "spark.sql.catalog.lakehouse.header.X-Team": "cdc",
    }
    assert catalog_settings(rest, LOCAL).namespace_location is None  # the server decides


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "path: catalog hadoop needs the warehouse path"),
        ({"catalog": "glue"}, "path: catalog glue needs the warehouse path"),
        ({"catalog": "rest"}, "catalog_uri: catalog rest needs the catalog's URL"),
        (
            {"catalog": "glue", "path": "s3://bkt/w", "catalog_uri": "https://c"},
            "catalog_uri: only for catalog rest, not glue",
        ),
        ({"catalog": "glue", "path": "s3a://bkt/w"}, "path: catalog glue keeps its tables on S3"),
        ({"catalog": "glue", "path": "/data/w"}, "path: catalog glue keeps its tables on S3"),
        ({"catalog": "glue", "path": "s3://bkt/it's"}, "no quotes"),
        (
            {"catalog": "glue", "path": "s3://bkt/w", "namespace": "Sales"},
            "namespace: 'Sales' is a Glue database name",
        ),
        ({"catalog": "rest", "catalog_uri": "catalog:8181"}, "catalog_uri"),
        ({"catalog": "hive", "path": "/w"}, "catalog"),
        (
            {"path": "/w", "catalog_properties": {"s3.secret-access-key": "x"}},
            "catalog_properties: ['s3.secret-access-key'] would put a credential in the config",
        ),
        (
            {"catalog": "rest", "catalog_uri": "https://c", "catalog_properties": {"token": "t"}},
            "catalog_properties: ['token']",
        ),
    ],
)
def test_catalog_mistakes_fail_naming_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        target(**fields)
    assert message in str(error.value)


def test_a_glue_catalog_refuses_a_table_name_glue_cannot_hold() -> None:
    overrides = ["target.kind=iceberg", "target.catalog=glue", "target.path=s3://bkt/w"]
    load_config(DEMO, overrides)  # the demo's table, `cases`, is a Glue name

    with pytest.raises(ConfigError) as error:
        load_config(DEMO, [*overrides, "tables.0.name=Cases"])
    assert "tables.0.name: 'Cases' cannot be a Glue table" in str(error.value)

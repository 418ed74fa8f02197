"""The Spark settings of a target's Iceberg catalog, as data: no session, no I/O.

One definition for every launcher: `IcebergCatalog.register` sets them in a session that
lacks the catalog, and the Glue job's `--conf` (deploy/glue_job.py) carries the same.

The catalog is Iceberg's SparkCatalog over
- hadoop: a HadoopCatalog on the warehouse folder (a commit is a rename: one writer, and
  no S3, which cannot rename atomically);
- glue: Iceberg's own GlueCatalog (org.apache.iceberg.aws.glue.GlueCatalog): a namespace
  is a Glue database, a commit is Glue's UpdateTable, guarded by the table's VersionId
  (optimistic locking). The job creates the database with the location
  `<path>/<namespace>`, so a table is `<path>/<namespace>/<table>` as in a Hadoop
  warehouse (GlueCatalog's own default would be `<path>/<namespace>.db/<table>`). Its
  files go through S3FileIO, on the AWS SDK v2 (the iceberg-aws bundle under
  spark-submit; Glue's own Iceberg on Glue), not S3A: so the `aws` section reaches it as
  catalog properties (`client.region`, `glue.endpoint`, `s3.endpoint`,
  `s3.path-style-access`: AwsClientProperties, AwsProperties and S3FileIOProperties of
  Iceberg 1.7.1 and 1.8.1), and credentials come from the SDK's default chain (environment,
  profile, the job's role), never from here;
- rest: a RESTCatalog at `catalog_uri`; the server decides locations and file IO.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aws import AwsSettings
from config import IcebergTarget

__all__ = [
    "GLUE_CATALOG",
    "S3_FILE_IO",
    "SPARK_CATALOG",
    "SQL_EXTENSIONS",
    "CatalogSettings",
    "catalog_properties",
    "catalog_settings",
    "spark_catalog_conf",
]

SQL_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
SPARK_CATALOG = "org.apache.iceberg.spark.SparkCatalog"
GLUE_CATALOG = "org.apache.iceberg.aws.glue.GlueCatalog"
S3_FILE_IO = "org.apache.iceberg.aws.s3.S3FileIO"


def catalog_properties(target: IcebergTarget, aws: AwsSettings) -> dict[str, str]:
    """The Iceberg catalog's properties (what follows `spark.sql.catalog.<name>.`)."""
    if target.catalog == "glue":
        assert target.path is not None, "validated by IcebergTarget"
        properties = {
            "catalog-impl": GLUE_CATALOG,
            "warehouse": target.path.rstrip("/"),
            "io-impl": S3_FILE_IO,
        } | _aws_properties(aws)
    elif target.catalog == "rest":
        assert target.catalog_uri is not None, "validated by IcebergTarget"
        properties = {"type": "rest", "uri": target.catalog_uri}
        if target.path is not None:
            properties["warehouse"] = target.path
    else:
        assert target.path is not None, "validated by IcebergTarget"
        properties = {"type": "hadoop", "warehouse": target.path}
    return properties | target.catalog_properties


def spark_catalog_conf(target: IcebergTarget, aws: AwsSettings) -> dict[str, str]:
    """`spark.sql.catalog.<spark_catalog>` and its properties, as Spark settings."""
    key = f"spark.sql.catalog.{target.spark_catalog}"
    properties = catalog_properties(target, aws)
    return {key: SPARK_CATALOG} | {f"{key}.{k}": v for k, v in properties.items()}


@dataclass(frozen=True)
class CatalogSettings:
    """What the engine needs of its catalog: the Spark settings that define it, and the
    location of a namespace the job creates (None: the catalog decides)."""

    conf: dict[str, str] = field(default_factory=dict)
    namespace_location: str | None = None


def catalog_settings(target: IcebergTarget, aws: AwsSettings) -> CatalogSettings:
    """The target's catalog for `IcebergCatalog.register`."""
    location = None
    if target.catalog == "glue" and target.path is not None:
        location = f"{target.path.rstrip('/')}/{target.namespace}"
    return CatalogSettings(spark_catalog_conf(target, aws), location)


def _aws_properties(aws: AwsSettings) -> dict[str, str]:
    """Region and local endpoints for the SDK v2 clients of GlueCatalog and S3FileIO. A
    local S3 endpoint gets path-style access (no bucket subdomains on 127.0.0.1), as S3A
    does (aws.s3a_settings)."""
    properties: dict[str, str] = {}
    if aws.region:
        properties["client.region"] = aws.region
    glue, s3 = aws.endpoint("glue"), aws.endpoint("s3")
    if glue:
        properties["glue.endpoint"] = glue
    if s3:
        properties |= {"s3.endpoint": s3, "s3.path-style-access": "true"}
    return properties

"""The `target` section: where the tables are kept (`kind` selects the model)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Discriminator, Field, StringConstraints, Tag, model_validator

from config.base import Identifier, Strict, kind_or
from config.retention import Retention

__all__ = [
    "CopyStaging",
    "DataApiConnection",
    "DeltaTarget",
    "DriverConnection",
    "GlueCatalogConfig",
    "IcebergTarget",
    "LakeTarget",
    "RedshiftTarget",
    "S3Staging",
    "TableFilesTarget",
    "Target",
]


class GlueCatalogConfig(Strict):
    """Register every table (and a lake's partitions) in the AWS Glue Data Catalog."""

    database: str = Field(
        pattern=r"^[a-z0-9_]{1,255}$",
        description="Glue database, created on first use; lower case, digits, '_'",
    )


class TableFilesTarget(Strict):
    """Tables as folders of files under one root, their bookkeeping hidden inside each."""

    path: str = Field(min_length=1, description="tables live in <path>/<table name>")
    state_dir: str = Field(
        default="_cdc",
        description="bookkeeping folder inside each table; must start with '_' or '.' so "
        "readers and VACUUM skip it (one folder name, no '/')",
    )
    max_records_per_file: int = Field(
        default=1_000_000, ge=1, description="split large partitions into several files"
    )
    catalog: GlueCatalogConfig | None = Field(
        default=None, description="register the tables in the Glue Data Catalog (path on S3)"
    )
    retention: Retention = Field(
        default=Retention(),
        description="how long tombstones (and, on Delta, closed SCD2 versions) are kept "
        "(docs/operations.md)",
    )

    @model_validator(mode="after")
    def _hidden_state(self) -> TableFilesTarget:
        if not self.state_dir.startswith(("_", ".")) or "/" in self.state_dir:
            raise ValueError("state_dir must be one folder name starting with '_' or '.'")
        return self

    @model_validator(mode="after")
    def _catalog_on_s3(self) -> TableFilesTarget:
        if self.catalog is not None and not self.path.startswith(("s3://", "s3a://", "s3n://")):
            raise ValueError("catalog: needs target.path on S3 (s3://bucket/... or s3a://...)")
        return self

    def table_path(self, table: str) -> str:
        return f"{self.path.rstrip('/')}/{table}"


class LakeTarget(TableFilesTarget):
    """Hive-style partitioned Parquet that always shows the most recent state."""

    kind: Literal["lake"] = Field(default="lake", description="the partition-rewrite Parquet lake")


class DeltaTarget(TableFilesTarget):
    """Delta Lake tables kept by MERGE: atomic commits, time travel, any Delta reader."""

    kind: Literal["delta"] = Field(default="delta", description="Delta Lake tables kept by MERGE")


_GLUE_NAME = re.compile(r"^[a-z0-9_]{1,252}$")  # Iceberg's GlueCatalog refuses any other
_GLUE_PATH = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^'\\\s]*)?$")
_SECRET_PROPERTY = re.compile(r"secret|token|credential|password|access-key", re.I)
_TRANSFORM = r"^(years|months|days|hours)\(\w+\)$|^(bucket|truncate)\(\d+, ?\w+\)$"


class IcebergTarget(Strict):
    """Apache Iceberg tables (format version 2) kept by MERGE, in an Iceberg catalog.

    `catalog` says which: a Hadoop catalog (a folder; local runs and tests), the AWS Glue
    Data Catalog (a namespace is a Glue database) or a REST catalog. `path` is the
    catalog's warehouse: in a Hadoop catalog table `t` lives in `<path>/<namespace>/t`,
    its key table (sequence guard, tombstones) beside it as `t__cdc_keys`. A table is
    partitioned by its `partition_by` (identity), or by Iceberg transforms named in
    `partition_transforms` (docs/engines.md, Iceberg).
    """

    kind: Literal["iceberg"] = Field(
        default="iceberg", description="Apache Iceberg tables kept by MERGE"
    )
    catalog: Literal["hadoop", "glue", "rest"] = Field(
        default="hadoop",
        description="the Iceberg catalog: hadoop (a folder: one writer, no S3), glue (the "
        "Glue Data Catalog; the aws section's region and endpoints) or rest (catalog_uri)",
    )
    path: str | None = Field(
        default=None,
        min_length=1,
        description="the catalog's warehouse: a folder for hadoop (a table is "
        "<path>/<namespace>/<table>), s3://bucket/prefix for glue; optional for rest",
    )
    catalog_uri: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="the REST catalog's base URL (catalog rest only)",
    )
    catalog_properties: dict[str, str] = Field(
        default_factory=dict,
        description="more Iceberg catalog properties, set last (e.g. glue.id, lock-impl, a "
        "REST catalog's warehouse name); never credentials: those come from the environment",
    )
    namespace: Identifier = Field(
        default="cdc",
        description="Iceberg namespace of every table: a folder of a Hadoop warehouse, a Glue "
        "database (lower case, digits, _)",
    )
    spark_catalog: Identifier = Field(
        default="iceberg",
        description="name of the Spark catalog, added at start from `catalog` unless the "
        "session already defines spark.sql.catalog.<name>",
    )
    write_mode: Literal["merge-on-read", "copy-on-write"] = Field(
        default="merge-on-read",
        description="how MERGE changes rows of existing files: position-delete files "
        "(cheap commits; compact with rewrite_data_files) or rewritten data files",
    )
    write_modes: dict[str, Literal["merge-on-read", "copy-on-write"]] = Field(
        default_factory=dict, description="write_mode of single tables, by table name"
    )
    state_write_mode: Literal["merge-on-read", "copy-on-write"] = Field(
        default="copy-on-write",
        description="write mode of the engine's own key (or events) tables, which every "
        "batch reads: rewritten files keep that read flat; delete files make it grow with "
        "every batch until compaction (docs/engines.md, Iceberg)",
    )
    partition_transforms: dict[str, list[Annotated[str, StringConstraints(pattern=_TRANSFORM)]]] = (
        Field(
            default_factory=dict,
            description="Iceberg partition transforms of single tables, by table name, instead "
            "of partition_by: years(c), months(c), days(c), hours(c), bucket(N, c), truncate(N, c)",
        )
    )
    target_file_size_mb: int | None = Field(
        default=None,
        gt=0,
        description="size of the data files a MERGE writes, in MiB: the tables' "
        "write.target-file-size-bytes, set when the engine creates or opens them (unset: "
        "Iceberg's 512 MiB, and a table's own setting stays); Iceberg splits by bytes, so "
        "there is no max_records_per_file here (docs/engines.md, Iceberg)",
    )
    retention: Retention = Field(
        default=Retention(),
        description="how long tombstones and closed SCD2 versions are kept (docs/operations.md)",
    )

    @model_validator(mode="after")
    def _catalog_settings(self) -> IcebergTarget:
        if self.catalog != "rest" and self.path is None:
            raise ValueError(f"path: catalog {self.catalog} needs the warehouse path")
        if self.catalog == "rest" and self.catalog_uri is None:
            raise ValueError("catalog_uri: catalog rest needs the catalog's URL (https://...)")
        if self.catalog != "rest" and self.catalog_uri is not None:
            raise ValueError(f"catalog_uri: only for catalog rest, not {self.catalog}")
        secrets = [k for k in self.catalog_properties if _SECRET_PROPERTY.search(k)]
        if secrets:
            raise ValueError(
                f"catalog_properties: {secrets} would put a credential in the config (and in "
                "the Glue job's arguments); the AWS SDK reads the environment or the role, "
                "and a session may define the whole catalog itself (spark-submit --conf)"
            )
        if self.catalog == "glue":
            if not _GLUE_PATH.match(self.path or ""):
                raise ValueError(
                    "path: catalog glue keeps its tables on S3: s3://bucket/prefix "
                    "(the location Glue, Athena and Iceberg's S3FileIO read; no quotes)"
                )
            if not _GLUE_NAME.match(self.namespace):
                raise ValueError(
                    f"namespace: {self.namespace!r} is a Glue database name: lower case "
                    "letters, digits and _ only"
                )
        return self

    def table_path(self, table: str) -> str | None:
        """The table's folder in a Hadoop catalog; elsewhere the catalog decides (None)."""
        if self.catalog != "hadoop" or self.path is None:
            return None
        return f"{self.path.rstrip('/')}/{self.namespace}/{table}"

    def mode_of(self, table: str) -> str:
        return self.write_modes.get(table, self.write_mode)

    @property
    def target_file_size_bytes(self) -> int | None:
        """`target_file_size_mb` in bytes, as Iceberg's property takes it (None: unset)."""
        mb = self.target_file_size_mb
        return None if mb is None else mb * 1024 * 1024


class CopyStaging(Strict):
    """Executors stream each batch into the staging table (COPY FROM STDIN): PostgreSQL."""

    kind: Literal["copy"] = Field(default="copy", description="COPY FROM STDIN from executors")


class S3Staging(Strict):
    """Executors write each batch as Parquet under `path`; Redshift loads it with COPY."""

    kind: Literal["s3"] = Field(description="Parquet on S3, then COPY ... FORMAT AS PARQUET")
    path: str = Field(
        pattern=r"^s3a?://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
        description="s3://bucket/prefix; a batch lands in <path>/<table>/<writer>/<batch>/",
    )
    iam_role: str = Field(
        pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$",
        description="role Redshift assumes to read the staged objects (COPY ... IAM_ROLE)",
    )


class DriverConnection(Strict):
    """A database connection (redshift_connector or psycopg) to host:port."""

    kind: Literal["driver"] = Field(default="driver", description="a driver connection")


class DataApiConnection(Strict):
    """Statements through the Redshift Data API: no network path to the cluster needed.

    Serverless: `workgroup` (the user comes from the job's IAM identity) or `secret_arn`.
    Provisioned: `cluster_id` with `db_user` (temporary credentials) or `secret_arn`.
    """

    kind: Literal["data-api"] = Field(description="the Redshift Data API")
    workgroup: str | None = Field(
        default=None, min_length=3, max_length=64, description="Redshift Serverless workgroup"
    )
    cluster_id: str | None = Field(
        default=None, min_length=1, max_length=63, description="provisioned cluster identifier"
    )
    db_user: str | None = Field(
        default=None, min_length=1, description="cluster user for temporary credentials"
    )
    secret_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:secretsmanager:",
        description="Secrets Manager secret with the database credentials",
    )
    timeout_s: int = Field(
        default=900, ge=1, description="how long one statement may run before the batch fails"
    )

    @model_validator(mode="after")
    def _one_way_in(self) -> DataApiConnection:
        if (self.workgroup is None) == (self.cluster_id is None):
            raise ValueError("data-api: set exactly one of workgroup and cluster_id")
        if self.workgroup is not None and self.db_user is not None:
            raise ValueError(
                "data-api: db_user is for a cluster_id; a workgroup uses the IAM identity"
            )
        if self.cluster_id is not None and (self.db_user is None) == (self.secret_arn is None):
            raise ValueError("data-api: a cluster_id needs exactly one of db_user and secret_arn")
        return self


class RedshiftTarget(Strict):
    """A warehouse kept by staged merges: Amazon Redshift, or PostgreSQL locally.

    The password is read from the environment variable named by `password_env`,
    never from the config file.
    """

    kind: Literal["redshift"] = Field(
        default="redshift", description="warehouse tables kept by staged merges"
    )
    dialect: Literal["redshift", "postgres"] = Field(
        default="redshift", description="redshift, or postgres (the local stand-in)"
    )
    host: str | None = Field(
        default=None, min_length=1, description="required with a driver connection"
    )
    port: int = Field(default=5439, ge=1, le=65535, description="driver connection only")
    database: str = Field(min_length=1, description="database of every table")
    user: str | None = Field(
        default=None, min_length=1, description="required with a driver connection"
    )
    password_env: str = Field(
        default="REDSHIFT_PASSWORD",
        min_length=1,
        description="environment variable holding the password (never in the file)",
    )
    db_schema: Identifier = Field(
        default="public", alias="schema", description="schema of every table the job creates"
    )
    connect_timeout_s: int = Field(default=10, ge=1, description="per connection")
    retry_s: int = Field(
        default=300,
        ge=0,
        description="how long a batch keeps retrying an unreachable warehouse before the job fails",
    )
    staging: CopyStaging | S3Staging = Field(
        default=CopyStaging(),
        discriminator="kind",
        description="how a batch reaches the staging table: {kind: copy} (PostgreSQL) or "
        "{kind: s3, path, iam_role} (required by Redshift)",
    )
    connection: DriverConnection | DataApiConnection = Field(
        default=DriverConnection(),
        discriminator="kind",
        description="{kind: driver} (host:port) or {kind: data-api, workgroup | cluster_id ...}",
    )
    retention: Retention = Field(
        default=Retention(),
        description="how long tombstones and closed SCD2 versions are kept (docs/operations.md)",
    )

    @model_validator(mode="after")
    def _staging_fits_the_database(self) -> RedshiftTarget:
        s3 = isinstance(self.staging, S3Staging)
        if self.dialect == "redshift" and not s3:
            raise ValueError(
                "staging: Amazon Redshift cannot COPY FROM STDIN; "
                "set staging: {kind: s3, path: s3://bucket/prefix, iam_role: arn:aws:iam::...}"
            )
        if self.dialect == "postgres" and s3:
            raise ValueError(
                "staging: kind s3 needs dialect redshift (PostgreSQL has no COPY from S3)"
            )
        if isinstance(self.connection, DataApiConnection) and self.dialect != "redshift":
            raise ValueError("connection: kind data-api reaches Amazon Redshift only")
        if isinstance(self.connection, DriverConnection) and (
            self.host is None or self.user is None
        ):
            raise ValueError("host and user are required with a driver connection")
        return self

    @property
    def uses_driver(self) -> bool:
        return isinstance(self.connection, DriverConnection)


Target = Annotated[
    Annotated[LakeTarget, Tag("lake")]
    | Annotated[RedshiftTarget, Tag("redshift")]
    | Annotated[DeltaTarget, Tag("delta")]
    | Annotated[IcebergTarget, Tag("iceberg")],
    Discriminator(kind_or("lake")),
]

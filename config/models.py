"""Pydantic models of a job config.

Field names mirror the vocabulary of `APPLY CHANGES` (keys, sequence_by,
except_column_list) so that people who know Delta Live Tables feel at home.
Every model forbids unknown keys: a typo fails before Spark starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    model_validator,
)

from config.base import ConfigError, Identifier, SparkType, Strict
from config.denormalize import DenormalizedTable, check_denormalized


def secret_from_env(variable: str, key: str) -> SecretStr:
    """The value of the environment variable a config key names, or a ConfigError."""
    value = os.environ.get(variable)
    if value is None:
        raise ConfigError(f"{key}: environment variable {variable} is not set")
    return SecretStr(value)


class ColumnSpec(Strict):
    """A source column as declared by the user (sources carry no usable schema)."""

    name: Identifier
    type: SparkType = "string"


class DerivedColumn(Strict):
    """A column computed with a Spark SQL expression; may replace a source column."""

    name: Identifier
    expr: str = Field(min_length=1)


class TableConfig(Strict):
    """One source table and how it maps onto its target table."""

    name: Identifier = Field(description="target table name")
    source_schema: str = "public"
    source_table: str | None = Field(default=None, description="defaults to name")
    path: str | None = Field(
        default=None, description="landing folder; defaults to <source.path>/<schema>/<table>"
    )
    keys: list[Identifier] = Field(min_length=1)
    columns: list[ColumnSpec] = Field(min_length=1)
    sequence_by: list[str] = Field(
        default_factory=list,
        description="SQL expressions ordering the changes of one key; empty = arrival order",
    )
    commit_ts: str | None = Field(
        default=None, description="SQL expression of the source commit time, for latency"
    )
    derived: list[DerivedColumn] = Field(default_factory=list)
    partition_by: list[Identifier] = Field(default_factory=list)
    except_column_list: list[Identifier] = Field(default_factory=list)
    max_string_bytes: int | None = Field(
        default=None,
        ge=1,
        description="quarantine a record whose string value is longer (UTF-8 bytes); "
        "65535 is Redshift's VARCHAR limit",
    )
    protect: dict[Identifier, Literal["mask", "hmac", "sha256"]] = Field(
        default_factory=dict,
        description="column -> mask (digits to *), hmac (keyed token) or sha256 (unkeyed, weak)",
    )
    scd_type: Literal[1, 2] = Field(
        default=1,
        description="1: the table shows the latest state; 2: one row per version with "
        "valid_from, valid_to, is_current (delta and redshift targets)",
    )

    @property
    def output_columns(self) -> list[str]:
        """Columns of the target table, in order: declared, then new derived ones."""
        names = list(self.column_names)
        names += [d.name for d in self.derived if d.name not in names]
        return [n for n in names if n not in set(self.except_column_list)]

    @property
    def source_name(self) -> str:
        return self.source_table or self.name

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @model_validator(mode="after")
    def _check_columns(self) -> TableConfig:
        names = self.column_names
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"columns: duplicate names {duplicates}")
        known = set(names) | {d.name for d in self.derived}
        for field, wanted in (
            ("protect", list(self.protect)),
            ("keys", self.keys),
            ("partition_by", self.partition_by),
            ("except_column_list", self.except_column_list),
        ):
            missing = [c for c in wanted if c not in known]
            if missing:
                raise ValueError(f"{field}: {missing} not among columns or derived columns")
        taken = set(self.output_columns) & {"valid_from", "valid_to", "is_current", "_seq", "_pos"}
        if self.scd_type == 2 and taken:
            raise ValueError(f"scd_type 2 adds its own columns; rename {sorted(taken)}")
        dropped = set(self.except_column_list) & (set(self.keys) | set(self.partition_by))
        if dropped:
            raise ValueError(f"except_column_list: cannot drop key or partition columns {dropped}")
        derived_keys = set(self.keys) & {d.name for d in self.derived}
        if derived_keys:
            raise ValueError(f"keys: key columns {sorted(derived_keys)} must not be derived")
        return self


class CsvOptions(Strict):
    """How DMS wrote its CSV files (S3 target endpoint settings)."""

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    null_value: str = Field(default="", description="DMS CsvNullValue")
    full_load_has_op: bool = Field(
        default=False, description="DMS includeOpForFullLoad: full-load files start with Op"
    )


class FilesSource(Strict):
    """DMS landing files read as a stream; the checkpoint plays Glue job bookmarks."""

    kind: Literal["files"] = "files"
    path: str = Field(min_length=1)
    format: Literal["dms-csv", "dms-parquet", "dms-json"] = "dms-csv"
    max_files_per_trigger: int = Field(default=1000, ge=1)
    csv: CsvOptions = CsvOptions()


class SourceDatabase(Strict):
    """The captured MySQL/MariaDB database, read only by `jobs/verify.py`."""

    host: str = Field(min_length=1)
    port: int = Field(default=3306, ge=1, le=65535)
    user: str = Field(min_length=1)
    password_env: str = Field(default="SOURCE_PASSWORD", min_length=1)

    @property
    def password(self) -> SecretStr:
        return secret_from_env(self.password_env, "source.database.password_env")


class KafkaSource(Strict):
    """Debezium change events on Kafka, one topic per table: <topic_prefix>.<db>.<table>."""

    kind: Literal["kafka"] = "kafka"
    bootstrap_servers: str = Field(min_length=1)
    format: Literal["debezium-json"] = "debezium-json"
    topic_prefix: str = Field(min_length=1, description="Debezium's topic.prefix")
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    starting_timestamp: AwareDatetime | None = Field(
        default=None,
        description="start a NEW checkpoint at the first message at or after this time "
        "(ISO 8601 with zone); replaces starting_offsets; ignored once a checkpoint exists",
    )
    max_offsets_per_trigger: int | None = Field(default=None, ge=1)
    options: dict[str, str] = Field(
        default_factory=dict,
        description="extra Kafka consumer options, e.g. kafka.security.protocol",
    )
    database: SourceDatabase | None = Field(
        default=None, description="the captured database, for jobs/verify.py"
    )


class KinesisSource(Strict):
    """DMS change records on a Kinesis data stream (every table in one stream).

    Region and endpoint come from the job's `aws` section. Under Glue the runtime's own
    Kinesis source reads it; under spark-submit the connector pinned in jars/pom.xml.
    """

    kind: Literal["kinesis"] = "kinesis"
    stream: str = Field(
        min_length=1,
        pattern=r"^(arn:aws[\w-]*:kinesis:[\w-]+:\d{12}:stream/)?[A-Za-z0-9_.-]{1,128}$",
        description="stream name or ARN",
    )
    format: Literal["dms-json"] = "dms-json"
    starting_position: Literal["TRIM_HORIZON", "LATEST"] = Field(
        default="TRIM_HORIZON",
        description="where a NEW checkpoint starts; ignored once a checkpoint exists",
    )
    starting_timestamp: AwareDatetime | None = Field(
        default=None,
        description="start a NEW checkpoint at the records that arrived at or after this "
        "time (ISO 8601 with zone); replaces starting_position",
    )
    max_records_per_shard: int | None = Field(
        default=None, ge=1, description="cap of records read per shard per micro-batch"
    )
    before_image_field: str = Field(
        default="before-image",
        min_length=1,
        description="DMS BeforeImageSettings FieldName: lets an update that changed the key "
        "delete the old key",
    )
    options: dict[str, str] = Field(
        default_factory=dict, description="extra options of the Kinesis source"
    )
    database: SourceDatabase | None = Field(
        default=None, description="the captured database, for jobs/verify.py"
    )

    @property
    def stream_name(self) -> str:
        return self.stream.rsplit("/", 1)[-1]


def _kind_or(default: str) -> Callable[[Any], str]:
    """A union tag that defaults: `kind` may be omitted for the first engine."""

    def tag(value: Any) -> str:
        if isinstance(value, dict):
            return str(value.get("kind", default))
        return str(getattr(value, "kind", default))

    return tag


Source = Annotated[
    Annotated[FilesSource, Tag("files")]
    | Annotated[KafkaSource, Tag("kafka")]
    | Annotated[KinesisSource, Tag("kinesis")],
    Discriminator(_kind_or("files")),
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
        description="bookkeeping folder inside each table; '_' hides it from readers and VACUUM",
    )
    max_records_per_file: int = Field(default=1_000_000, ge=1)
    catalog: GlueCatalogConfig | None = Field(
        default=None, description="register the tables in the Glue Data Catalog (path on S3)"
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

    kind: Literal["lake"] = "lake"


class CopyStaging(Strict):
    """Executors stream each batch into the staging table (COPY FROM STDIN): PostgreSQL."""

    kind: Literal["copy"] = "copy"


class S3Staging(Strict):
    """Executors write each batch as Parquet under `path`; Redshift loads it with COPY."""

    kind: Literal["s3"]
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

    kind: Literal["driver"] = "driver"


class DataApiConnection(Strict):
    """Statements through the Redshift Data API: no network path to the cluster needed.

    Serverless: `workgroup` (the user comes from the job's IAM identity) or `secret_arn`.
    Provisioned: `cluster_id` with `db_user` (temporary credentials) or `secret_arn`.
    """

    kind: Literal["data-api"]
    workgroup: str | None = Field(default=None, min_length=3, max_length=64)
    cluster_id: str | None = Field(default=None, min_length=1, max_length=63)
    db_user: str | None = Field(default=None, min_length=1)
    secret_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:secretsmanager:")
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
    """A warehouse table kept by staged merges: Amazon Redshift, or PostgreSQL locally.

    The password is read from the environment variable named by `password_env`,
    never from the config file.
    """

    kind: Literal["redshift"] = "redshift"
    dialect: Literal["redshift", "postgres"] = "redshift"
    host: str | None = Field(default=None, min_length=1, description="driver connection only")
    port: int = Field(default=5439, ge=1, le=65535)
    database: str = Field(min_length=1)
    user: str | None = Field(default=None, min_length=1, description="driver connection only")
    password_env: str = Field(default="REDSHIFT_PASSWORD", min_length=1)
    db_schema: Identifier = Field(default="public", alias="schema")
    connect_timeout_s: int = Field(default=10, ge=1)
    retry_s: int = Field(
        default=300,
        ge=0,
        description="how long a batch keeps retrying an unreachable warehouse before the job fails",
    )

    staging: CopyStaging | S3Staging = Field(default=CopyStaging(), discriminator="kind")
    connection: DriverConnection | DataApiConnection = Field(
        default=DriverConnection(), discriminator="kind"
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
    def password(self) -> SecretStr:
        return secret_from_env(self.password_env, "target.password_env")


class DeltaTarget(TableFilesTarget):
    """Delta Lake tables kept by MERGE: atomic commits, time travel, any Delta reader."""

    kind: Literal["delta"] = "delta"


Target = Annotated[
    Annotated[LakeTarget, Tag("lake")]
    | Annotated[RedshiftTarget, Tag("redshift")]
    | Annotated[DeltaTarget, Tag("delta")],
    Discriminator(_kind_or("lake")),
]


class QuarantineConfig(Strict):
    """Where undecodable records go, with the reason; holds raw data: protect it."""

    path: str = Field(min_length=1)


class PrivacyConfig(Strict):
    """Where the tokenization key comes from: never from a committed file."""

    hmac_key_env: str = Field(default="STREAM_CDC_HMAC_KEY", min_length=1)

    def hmac_key(self) -> SecretStr | None:
        value = os.environ.get(self.hmac_key_env)
        return SecretStr(value) if value else None


AwsService = Literal["s3", "kinesis", "glue", "secretsmanager", "redshift-data", "sts"]


class AwsConfig(Strict):
    """Where the AWS APIs answer. On AWS only `region` matters; `endpoints` point a
    service at a local server that speaks its API (the code path stays the same)."""

    region: str = Field(default="us-east-1", min_length=1)
    endpoints: dict[AwsService, str] = Field(
        default_factory=dict,
        description="endpoint URL per service, e.g. {s3: http://127.0.0.1:5000}; "
        "omit on AWS (the SDKs also honour AWS_ENDPOINT_URL_<SERVICE>)",
    )


class JobConfig(Strict):
    """A whole job: one source, its tables, one target."""

    name: Identifier = "stream_cdc"
    checkpoint: str = Field(min_length=1)
    trigger_interval: str = "10 seconds"
    source: Source
    tables: list[TableConfig] = Field(min_length=1)
    target: Target
    quarantine: QuarantineConfig
    privacy: PrivacyConfig = PrivacyConfig()
    aws: AwsConfig = AwsConfig()
    denormalize: list[DenormalizedTable] = Field(
        default_factory=list, description="fact + dimensions joined into one warehouse table"
    )

    @model_validator(mode="after")
    def _unique_tables(self) -> JobConfig:
        names = [t.name for t in self.tables]
        if len(set(names)) != len(names):
            raise ValueError(f"tables: duplicate table names in {names}")
        return self

    @model_validator(mode="after")
    def _denormalized_tables_resolve(self) -> JobConfig:
        if self.denormalize and not isinstance(self.target, RedshiftTarget):
            raise ValueError("denormalize: needs target kind redshift (the lake does not join)")
        tables = {t.name: t for t in self.tables}
        for i, spec in enumerate(self.denormalize):
            check_denormalized(spec, tables, taken=set(tables), where=f"denormalize.{i}")
        names = [d.name for d in self.denormalize]
        if len(set(names)) != len(names):
            raise ValueError(f"denormalize: duplicate names in {names}")
        return self

    @model_validator(mode="after")
    def _history_needs_an_engine_that_keeps_it(self) -> JobConfig:
        for i, table in enumerate(self.tables):
            if table.scd_type == 2 and isinstance(self.target, LakeTarget):
                raise ValueError(
                    f"tables.{i}.scd_type: 2 needs target kind delta or redshift "
                    "(the lake keeps the most recent view only)"
                )
            fed = [d.name for d in self.denormalized_by(table.name)]
            if table.scd_type == 2 and fed:
                raise ValueError(
                    f"tables.{i}.scd_type: 2 cannot feed denormalized tables {fed} "
                    "(they join the latest state of each table)"
                )
        return self

    def tokenization_key(self) -> str | None:
        """The HMAC key, or a ConfigError if a table's `hmac` rule needs it and it is unset."""
        key = self.privacy.hmac_key()
        for table in self.tables:
            if "hmac" in table.protect.values() and key is None:
                raise ConfigError(
                    f"tables[{table.name}].protect needs a tokenization key: set the "
                    f"environment variable {self.privacy.hmac_key_env}"
                )
        return key.get_secret_value() if key else None

    def denormalized_by(self, table: str) -> list[DenormalizedTable]:
        """The denormalized tables that `table` feeds."""
        return [d for d in self.denormalize if table in {r.table for r in d.tables}]

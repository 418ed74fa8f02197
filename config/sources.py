"""The `source` section: where the changes come from (`kind` selects the model)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Discriminator, Field, Tag, model_validator

from config.base import Identifier, Strict, kind_or

__all__ = [
    "CsvOptions",
    "FilesSource",
    "GlueSourceCatalog",
    "KafkaSource",
    "KinesisSource",
    "Source",
    "SourceDatabase",
]


class CsvOptions(Strict):
    """How DMS wrote its CSV files (S3 target endpoint settings)."""

    delimiter: str = Field(default=",", min_length=1, max_length=1, description="DMS CsvDelimiter")
    null_value: str = Field(
        default="", description='DMS CsvNullValue: "" makes an empty field NULL'
    )
    full_load_has_op: bool = Field(
        default=False, description="DMS includeOpForFullLoad: full-load files start with Op"
    )


class SourceDatabase(Strict):
    """The captured MySQL/MariaDB database: its catalog (`information_schema`) describes
    the tables to discover, and `jobs/verify.py` compares the targets with its rows."""

    host: str = Field(min_length=1, description="host of the captured database")
    port: int = Field(default=3306, ge=1, le=65535, description="its port")
    user: str = Field(min_length=1, description="a user that may read every table")
    password_env: str = Field(
        default="SOURCE_PASSWORD",
        min_length=1,
        description="environment variable holding the password (never in the file)",
    )


class GlueSourceCatalog(Strict):
    """A Glue Data Catalog database describing the source's tables (columns and types;
    a table's `primary_key` parameter names its key columns)."""

    database: str = Field(
        pattern=r"^[a-z0-9_]{1,255}$", description="the Glue database describing the source"
    )
    schema_name: str = Field(
        alias="schema", min_length=1, description="the source schema its tables belong to"
    )


_DATABASE = "the captured database: where tables and columns are discovered"
_VERIFIED = _DATABASE + " (and what jobs/verify.py compares with)"
_GLUE = "a Glue database describing the source's tables, for discovery without database access"


class FilesSource(Strict):
    """DMS landing files read as a stream; the checkpoint plays Glue job bookmarks."""

    kind: Literal["files"] = Field(default="files", description="DMS landing files")
    path: str = Field(
        min_length=1,
        description="landing root; a table's files are read from "
        "<path>/<source_schema>/<source_table>/ (DMS's layout), sub-folders included",
    )
    format: Literal["dms-csv", "dms-parquet", "dms-json"] = Field(
        default="dms-csv", description="dms-csv, dms-parquet or dms-json"
    )
    max_files_per_trigger: int = Field(
        default=1000,
        ge=1,
        description="cap of new files per micro-batch, every table's together: a backlog is "
        "read in batches this big (docs/sources.md, Batch sizes)",
    )
    csv: CsvOptions = Field(default=CsvOptions(), description="how DMS wrote its CSV files")
    timestamp_column: Identifier | None = Field(
        default=None,
        description="dms-parquet: DMS TimestampColumnName, the column of each change's "
        "commit time; read as the commit time, and not a column of the tables its files "
        "describe",
    )
    database: SourceDatabase | None = Field(default=None, description=_DATABASE)
    glue_catalog: GlueSourceCatalog | None = Field(default=None, description=_GLUE)

    @model_validator(mode="after")
    def _check_timestamp_column(self) -> FilesSource:
        if self.timestamp_column is not None and self.format != "dms-parquet":
            raise ValueError("timestamp_column: only with format dms-parquet")
        return self


class KafkaSource(Strict):
    """Debezium change events on Kafka, one topic per table: <topic_prefix>.<db>.<table>."""

    kind: Literal["kafka"] = Field(
        default="kafka", description="Debezium MySQL/MariaDB events on Kafka"
    )
    bootstrap_servers: str = Field(min_length=1, description="Kafka brokers, host:port,...")
    format: Literal["debezium-json"] = Field(
        default="debezium-json",
        description="the envelope (before, after, source, op); JSON converter, schemas on or off",
    )
    topic_prefix: str = Field(
        min_length=1,
        description="Debezium's topic.prefix; a table's topic is "
        "<prefix>.<source_schema>.<source_table>",
    )
    starting_offsets: Literal["earliest", "latest"] = Field(
        default="earliest", description="where a NEW checkpoint starts"
    )
    starting_timestamp: AwareDatetime | None = Field(
        default=None,
        description="start a NEW checkpoint at the first message at or after this time "
        "(ISO 8601 with zone) in every partition; a partition with none starts at its end. "
        "Replaces starting_offsets; ignored once a checkpoint exists",
    )
    max_offsets_per_trigger: int | None = Field(
        default=500_000,
        ge=1,
        description="cap of messages per micro-batch, across partitions: a backlog is read "
        "in batches this big (null: no cap, one batch; docs/sources.md, Batch sizes)",
    )
    options: dict[str, str] = Field(
        default_factory=dict,
        description="extra options of Spark's Kafka source, e.g. kafka.security.protocol",
    )
    database: SourceDatabase | None = Field(default=None, description=_VERIFIED)
    glue_catalog: GlueSourceCatalog | None = Field(default=None, description=_GLUE)


class KinesisSource(Strict):
    """DMS change records on a Kinesis data stream (every table in one stream).

    Region and endpoint come from the job's `aws` section. Under Glue the runtime's own
    Kinesis source reads it; under spark-submit the connector pinned in jars/pom.xml.
    """

    kind: Literal["kinesis"] = Field(
        default="kinesis", description="DMS records on a Kinesis data stream"
    )
    stream: str = Field(
        min_length=1,
        pattern=r"^(arn:aws[\w-]*:kinesis:[\w-]+:\d{12}:stream/)?[A-Za-z0-9_.-]{1,128}$",
        description="stream name or ARN",
    )
    format: Literal["dms-json"] = Field(
        default="dms-json", description="DMS's Kinesis message format, every endpoint setting"
    )
    starting_position: Literal["TRIM_HORIZON", "LATEST"] = Field(
        default="TRIM_HORIZON",
        description="where a NEW checkpoint starts: TRIM_HORIZON (oldest record kept) or "
        "LATEST; ignored once a checkpoint exists",
    )
    starting_timestamp: AwareDatetime | None = Field(
        default=None,
        description="start a NEW checkpoint at the records that arrived at or after this "
        "time (ISO 8601 with zone) in every shard; replaces starting_position",
    )
    max_records_per_shard: int = Field(
        default=100_000,
        ge=1,
        description="cap of records read per shard per micro-batch (Glue's and the "
        "connector's default, set on both; docs/sources.md, Batch sizes)",
    )
    before_image_field: str = Field(
        default="before-image",
        min_length=1,
        description="DMS BeforeImageSettings FieldName: lets an update that changed the key "
        "delete the old key",
    )
    options: dict[str, str] = Field(
        default_factory=dict,
        description="extra options of the Kinesis source, e.g. kinesis.executor.maxFetchTimeInMs",
    )
    database: SourceDatabase | None = Field(default=None, description=_VERIFIED)
    glue_catalog: GlueSourceCatalog | None = Field(default=None, description=_GLUE)

    @property
    def stream_name(self) -> str:
        return self.stream.rsplit("/", 1)[-1]


Source = Annotated[
    Annotated[FilesSource, Tag("files")]
    | Annotated[KafkaSource, Tag("kafka")]
    | Annotated[KinesisSource, Tag("kinesis")],
    Discriminator(kind_or("files")),
]

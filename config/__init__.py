"""Job configuration: YAML validated by pydantic before Spark starts, one module a section.

base        strict models, identifiers, types, ConfigError
sources     `source`: files | kafka | kinesis
tables      `tables`: keys, columns, derived columns, privacy, SCD type
targets     `target`: lake | delta | iceberg | redshift
denormalize `denormalize`: fact + dimensions joined in the warehouse
aws         `aws`: region and endpoints
metrics     `metrics`: Prometheus endpoint, CloudWatch metrics
secrets     values named by environment variable, read once at load
privacy     `privacy`: the tokenization key and how values are tokenized
retention   `target.retention`: how long tombstones and closed history are kept
job         the whole job
load        YAML, `--set` overrides, errors naming the key, redaction
reference   docs/config.md, generated from the models' descriptions
"""

from config.aws import AwsConfig
from config.base import ConfigError
from config.denormalize import DenormalizedTable
from config.job import JobConfig, QuarantineConfig
from config.load import load_config, redacted_yaml
from config.metrics import CloudWatchMetrics, MetricsConfig, PrometheusMetrics
from config.privacy import PrivacyConfig, Tokenization
from config.secrets import Secrets
from config.sources import CsvOptions, FilesSource, KafkaSource, KinesisSource, SourceDatabase
from config.tables import ColumnSpec, DerivedColumn, TableConfig
from config.targets import (
    CopyStaging,
    DataApiConnection,
    DeltaTarget,
    DriverConnection,
    GlueCatalogConfig,
    IcebergTarget,
    LakeTarget,
    RedshiftTarget,
    S3Staging,
    TableFilesTarget,
)

__all__ = [
    "AwsConfig",
    "CloudWatchMetrics",
    "ColumnSpec",
    "ConfigError",
    "CopyStaging",
    "CsvOptions",
    "DataApiConnection",
    "DeltaTarget",
    "DenormalizedTable",
    "DerivedColumn",
    "DriverConnection",
    "FilesSource",
    "GlueCatalogConfig",
    "IcebergTarget",
    "JobConfig",
    "KafkaSource",
    "KinesisSource",
    "LakeTarget",
    "MetricsConfig",
    "PrivacyConfig",
    "PrometheusMetrics",
    "QuarantineConfig",
    "RedshiftTarget",
    "S3Staging",
    "Secrets",
    "SourceDatabase",
    "TableConfig",
    "TableFilesTarget",
    "Tokenization",
    "load_config",
    "redacted_yaml",
]

"""Job configuration: YAML validated by pydantic before Spark starts."""

from config.load import ConfigError, load_config, redacted_yaml
from config.models import (
    ColumnSpec,
    DerivedColumn,
    FilesSource,
    JobConfig,
    LakeTarget,
    TableConfig,
)

__all__ = [
    "ColumnSpec",
    "ConfigError",
    "DerivedColumn",
    "FilesSource",
    "JobConfig",
    "LakeTarget",
    "TableConfig",
    "load_config",
    "redacted_yaml",
]

"""The config reference (docs/config.md), written from the models' field descriptions.

    python -m config.reference > docs/config.md

The document is generated so that it cannot drift from the code: a test compares the
committed file with this output.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from config.aws import AwsConfig
from config.denormalize import DenormalizedTable, Join, TableRef
from config.job import JobConfig, QuarantineConfig
from config.metrics import CloudWatchMetrics, MetricsConfig, PrometheusMetrics
from config.privacy import PrivacyConfig
from config.retention import Retention
from config.sources import (
    CsvOptions,
    FilesSource,
    GlueSourceCatalog,
    KafkaSource,
    KinesisSource,
    SourceDatabase,
)
from config.tables import ColumnSpec, DerivedColumn, TableConfig, TablePattern
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
)

__all__ = ["SECTIONS", "render"]

INTRO = """# Config reference

A job is one YAML file (see `conf/demo.yaml`, `conf/sports.yaml`). Unknown keys fail
before Spark starts, naming the key; `--set key.path=value` overrides any key (the value
is read as YAML). Relative paths are relative to the current directory; any Hadoop path
works (`s3a://...` on clusters). Secrets are never in the file: keys ending in `_env` name
the environment variable that holds them (read once at start; on Glue from Secrets
Manager, see docs/aws.md).

Tables come one by one or by pattern; a table that declares no columns is discovered from
the source (its catalog, or without one Debezium records that carry their schema or DMS
Parquet files) and followed while the job runs: how, the mapping of database and Parquet
types to Spark types, and what each schema change does are in docs/sources.md.

This file is generated from the config models (`python -m config.reference`); edit the
field descriptions in `config/`, not this file.
"""

# (heading, key prefix, model): every model of the config, in reading order.
SECTIONS: tuple[tuple[str, str, type[BaseModel]], ...] = (
    ("The job", "", JobConfig),
    ("Source: DMS landing files (`source.kind: files`)", "source.", FilesSource),
    ("DMS CSV settings", "source.csv.", CsvOptions),
    ("Source: Debezium on Kafka (`source.kind: kafka`)", "source.", KafkaSource),
    ("Source: DMS on Kinesis (`source.kind: kinesis`)", "source.", KinesisSource),
    ("The captured database", "source.database.", SourceDatabase),
    ("A Glue database describing the source", "source.glue_catalog.", GlueSourceCatalog),
    ("Tables by pattern", "tables[].", TablePattern),
    ("Tables one by one", "tables[].", TableConfig),
    ("Columns", "tables[].columns[].", ColumnSpec),
    ("Derived columns", "tables[].derived[].", DerivedColumn),
    ("Target: Parquet lake (`target.kind: lake`)", "target.", LakeTarget),
    ("Target: Delta Lake (`target.kind: delta`)", "target.", DeltaTarget),
    ("Target: Apache Iceberg (`target.kind: iceberg`)", "target.", IcebergTarget),
    ("Glue Data Catalog (lake and Delta on S3)", "target.catalog.", GlueCatalogConfig),
    ("Retention (every target)", "target.retention.", Retention),
    ("Target: warehouse (`target.kind: redshift`)", "target.", RedshiftTarget),
    ("Warehouse staging: COPY from the executors", "target.staging.", CopyStaging),
    ("Warehouse staging: Parquet on S3", "target.staging.", S3Staging),
    ("Warehouse connection: a driver", "target.connection.", DriverConnection),
    ("Warehouse connection: the Redshift Data API", "target.connection.", DataApiConnection),
    ("Denormalized tables (warehouse)", "denormalize[].", DenormalizedTable),
    ("The fact of a denormalized table", "denormalize[].from.", TableRef),
    ("Joins of a denormalized table", "denormalize[].joins[].", Join),
    ("Quarantine", "quarantine.", QuarantineConfig),
    ("Privacy", "privacy.", PrivacyConfig),
    ("AWS", "aws.", AwsConfig),
    ("Metrics", "metrics.", MetricsConfig),
    ("Metrics: Prometheus endpoint", "metrics.prometheus.", PrometheusMetrics),
    ("Metrics: CloudWatch", "metrics.cloudwatch.", CloudWatchMetrics),
)


def render() -> str:
    """The whole reference as Markdown."""
    parts = [INTRO]
    for heading, prefix, model in SECTIONS:
        parts.append(f"## {heading}\n\n{_doc(model)}\n\n| key | default | meaning |\n|---|---|---|")
        parts += [_row(prefix, name, field, model) for name, field in _fields(model)]
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def _fields(model: type[BaseModel]) -> Iterator[tuple[str, FieldInfo]]:
    """Fields in declaration order, `kind` first (subclasses declare it last)."""
    fields = sorted(model.model_fields.items(), key=lambda item: item[0] != "kind")
    for name, field in fields:
        yield field.alias or name, field


def _doc(model: type[BaseModel]) -> str:
    text = (model.__doc__ or "").strip()
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


# The members a config may name without their `kind`: the default of their union (a
# source without `kind` is files, a target without it a lake). Any other member, and a
# `staging` or `connection` mapping, names its `kind`.
_KIND_IMPLIED: tuple[type[BaseModel], ...] = (FilesSource, LakeTarget)


def _row(prefix: str, name: str, field: FieldInfo, model: type[BaseModel]) -> str:
    meaning = (field.description or "").replace("|", _BAR)
    meaning = meaning.replace("<", "&lt;").replace(">", "&gt;")  # not HTML tags
    values = _choices(field.annotation)
    choices = _BAR.join(f"`{v}`" for v in values)
    if len(values) > 1 and not any(v in meaning for v in values):
        meaning = f"{meaning} (one of {choices})" if meaning else choices
    required = name == "kind" and model not in _KIND_IMPLIED
    return f"| `{prefix}{name}` | {'required' if required else _default(field)} | {meaning} |"


_BAR = " \\| "  # a | inside a Markdown table cell


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value: Any = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        kind = getattr(value, "kind", None)
        return f"`{{kind: {kind}}}`" if kind else "see below"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return '`""`'
    return f"`{value}`"


def _choices(annotation: Any) -> list[str]:
    """The values of a Literal type (also inside Optional), for the meaning column."""
    if get_origin(annotation) is Literal:
        return [str(v) for v in get_args(annotation)]
    if get_origin(annotation) in (Union, types.UnionType):
        return [c for arg in get_args(annotation) for c in _choices(arg)]
    return []


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Apache Iceberg engine (`target.kind: iceberg`)."""

from sinks.iceberg.engine import IcebergEngine

__all__ = ["IcebergEngine"]

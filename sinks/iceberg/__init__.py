"""The Apache Iceberg engines (`target.kind: iceberg`): latest state, and SCD type 2."""

from sinks.iceberg.engine import IcebergEngine
from sinks.iceberg.history import IcebergHistoryEngine

__all__ = ["IcebergEngine", "IcebergHistoryEngine"]

"""The partition-rewrite Parquet lake: a most-recent view readable by any Parquet reader."""

from sinks.lake.engine import LakeEngine

__all__ = ["LakeEngine"]

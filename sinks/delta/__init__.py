"""Delta Lake tables kept by MERGE: atomic commits, time travel, readable by any Delta reader."""

from sinks.delta.engine import DeltaEngine

__all__ = ["DeltaEngine"]

"""Which partitions of a lake table may hold one of a batch's keys: those whose range of
the first key column (in the manifest) holds one of the batch's first keys.

For a whole-number first key (the usual auto-increment id) the batch's keys are summed
up as spans and matched on the driver (sinks/key_spans.py): one small Spark job. Any
other key type is matched range by range, on the executors: a join with the ranges
broadcast, and a Spark job more (the broadcast's).
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegralType

from sinks.key_spans import meeting, spans
from transforms.frames import text_frame

__all__ = ["candidates"]

Range = tuple[str, str, str]  # partition path, lowest and highest first key, as text


def candidates(
    spark: SparkSession, changes: DataFrame, first: str, ranges: Sequence[Range]
) -> list[str]:
    """The paths of the `ranges` that may hold one of `changes`' values of `first`."""
    if not ranges:
        return []
    if isinstance(changes.schema[first].dataType, IntegralType):
        numbered = [(path, int(lo), int(hi)) for path, lo, hi in ranges]
        low, high = min(lo for _, lo, _ in numbered), max(hi for _, _, hi in numbered)
        return sorted(meeting(numbered, spans(changes, first, low, high).spans))
    return _joined(spark, changes, first, ranges)


def _joined(
    spark: SparkSession, changes: DataFrame, first: str, ranges: Sequence[Range]
) -> list[str]:
    key_type = changes.schema[first].dataType
    bounds = text_frame(spark, ranges, ["path", "lo", "hi"]).select(
        "path", F.col("lo").cast(key_type).alias("lo"), F.col("hi").cast(key_type).alias("hi")
    )
    probes = changes.select(F.col(f"`{first}`").alias("k")).distinct()
    hits = probes.join(
        F.broadcast(bounds), (F.col("k") >= F.col("lo")) & (F.col("k") <= F.col("hi"))
    )
    return sorted(str(r["path"]) for r in hits.select("path").distinct().collect())

"""Which partitions of a lake table may hold one of a batch's keys: those whose range of
the first key column (in the manifest) holds one of the batch's first keys; and what the
table holds of the batch's keys, read from their key index only (`held_keys`).

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

from sinks.decide import held, key_schema
from sinks.key_spans import meeting, spans
from sinks.lake.columns import cast_to, written_schema
from sinks.lake.files import TableFiles
from sinks.lake.manifest import Manifest
from transforms.frames import empty_frame, text_frame

__all__ = ["candidate_partitions", "candidates", "held_keys"]

Range = tuple[str, str, str]  # partition path, lowest and highest first key, as text


def held_keys(
    files: TableFiles,
    changes: DataFrame,
    manifest: Manifest,
    keys: Sequence[str],
    parts: Sequence[str],
) -> DataFrame:
    """What the table of `files` holds for the batch's keys (sinks/decide.py `held`), read
    from the key index of the partitions that may hold them only."""
    schema = key_schema(changes.schema, keys, parts)
    spark = changes.sparkSession
    paths = [
        files.key_file(path, name)
        for path in candidate_partitions(changes, manifest, keys[0])
        for name in manifest.partitions[path].keys
    ]
    if paths:
        written = written_schema(manifest, schema, keys, parts)
        index = cast_to(files.read(paths, files.keys_root, written), schema)
    else:
        index = empty_frame(spark, schema)
    return index.transform(held(keys, parts))


def candidate_partitions(changes: DataFrame, manifest: Manifest, first: str) -> list[str]:
    """The partitions of `manifest` whose range of the first key column (`first`) holds
    one of the batch's values of it."""
    ranges = [
        (path, e.min_key, e.max_key)
        for path, e in manifest.partitions.items()
        if e.keys and e.min_key is not None and e.max_key is not None
    ]
    return candidates(changes.sparkSession, changes, first, ranges)


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

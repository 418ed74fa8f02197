"""Where a lake table's files live, and reading and writing them with Spark.

<table>/year=2020/month=5/day=12/part-*.parquet   published, live rows only
<table>/_cdc/keys/year=2020/.../part-*.parquet     key index (sinks/decide.py)
<table>/_cdc/manifest/<version>.json               commit log (manifest.py)
<table>/_cdc/manifest/<version>.applied            its files are in place
<table>/_cdc/staging/<version>/{data,keys}/...      files of a commit being published
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from sinks.storage import Storage

ONE_TASK_ROWS = 100_000  # rows a write gathers in one task rather than by a shuffle
# When the rows are not counted (a table's first batch, sinks/lake/load.py): the size
# Spark's optimizer estimates for them (exact for cached frames, the files' size for a
# read; unknown, so shuffled, otherwise)
ONE_TASK_BYTES = 16 * 1024 * 1024

__all__ = [
    "ONE_TASK_BYTES",
    "ONE_TASK_ROWS",
    "TableFiles",
    "join",
    "parquet_names",
    "partition_path",
    "visible",
]


class TableFiles:
    """The paths of one lake table, and its Parquet reads and writes."""

    def __init__(
        self,
        spark: SparkSession,
        path: str,
        *,
        partition_by: Sequence[str],
        state_dir: str,
        max_records_per_file: int,
    ) -> None:
        self._spark = spark
        self.storage = Storage(spark, path)
        self.path = self.storage.root
        self.state = f"{self.path}/{state_dir}"
        self.keys_root = f"{self.state}/keys"
        self.staging_root = f"{self.state}/staging"
        self._parts = list(partition_by)
        self._max_records = max_records_per_file

    @property
    def max_records(self) -> int:
        """Rows in a written file at most."""
        return self._max_records

    # ------------------------------------------------------------------ paths

    def versions(self) -> list[int]:
        names = self.storage.list_names(f"{self.state}/manifest")
        return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())

    def manifest_file(self, version: int) -> str:
        return f"{self.state}/manifest/{version:020d}.json"

    def applied_marker(self, version: int) -> str:
        return f"{self.state}/manifest/{version:020d}.applied"

    def staging(self, version: int) -> str:
        return f"{self.staging_root}/{version:020d}"

    def data_file(self, partition: str, name: str) -> str:
        return f"{join(self.path, partition)}/{name}"

    def key_file(self, partition: str, name: str) -> str:
        return f"{join(self.keys_root, partition)}/{name}"

    def partition_path(self, values: Sequence[Any]) -> str:
        return partition_path(self._parts, values)

    # ----------------------------------------------------------- Spark I/O

    def read(self, files: Iterable[str], base: str, schema: StructType) -> DataFrame:
        """Parquet files of partitions under `base`; partition values come from the paths."""
        return self._spark.read.schema(schema).option("basePath", base).parquet(*files)

    def read_folder(self, folder: str, schema: StructType) -> DataFrame:
        return self._spark.read.schema(schema).option("basePath", folder).parquet(folder)

    def write(self, df: DataFrame, folder: str, rows: int | None) -> None:
        """Overwrite `folder` with `df`, one folder a partition, files of bounded size.

        Rows are gathered by partition so that each partition gets one file (or a few,
        above the row limit): shuffled by partition, or, when `df` has at most `rows` rows
        (None: not known) and they fit one task (`ONE_TASK_ROWS`), read by a single task
        that sorts them itself: a shuffle is a stage of its own, a fixed cost that a small
        table's batch pays for a few rows."""
        parts = [F.col(f"`{p}`") for p in self._parts]
        writer_df = df
        if parts and _one_task(df, rows):
            writer_df = df.coalesce(1)
        elif parts:
            writer_df = df.repartition(*parts)
        (
            writer_df.write.mode("overwrite")
            .option("maxRecordsPerFile", self._max_records)
            .partitionBy(*self._parts)
            .parquet(folder)
        )


def _one_task(df: DataFrame, rows: int | None) -> bool:
    """Whether `df` (at most `rows` rows; None: not counted) fits one task."""
    if rows is not None:
        return rows <= ONE_TASK_ROWS
    estimate = df._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()
    return int(estimate) <= ONE_TASK_BYTES


# The characters Spark escapes in a partition folder's name as %XX (ExternalCatalogUtils).
_ESCAPED = frozenset([*map(chr, range(0x01, 0x20)), *"\"#%'*/:=?\\\x7f{[]^"])
DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # Spark's folder for NULL and ''


def partition_path(names: Sequence[str], values: Sequence[Any]) -> str:
    """Spark's Hive path of partition values (`year=2020/month=5`), escaped as Spark
    escapes it. In Python: a batch names hundreds of partitions, and a call into the JVM
    for each cost a second or more per batch."""
    return "/".join(
        f"{_escape(name)}={DEFAULT_PARTITION if v is None or str(v) == '' else _escape(str(v))}"
        for name, v in zip(names, values, strict=True)
    )


def _escape(text: str) -> str:
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in text)


def join(root: str, partition: str) -> str:
    return f"{root}/{partition}" if partition else root


def parquet_names(names: Iterable[str]) -> list[str]:
    return [n for n in names if n.endswith(".parquet") and not n.startswith(("_", "."))]


def visible(names: Iterable[str]) -> list[str]:
    return [n for n in names if not n.startswith(("_", "."))]

"""An Iceberg catalog in the Spark session, the tables' DDL, and what their snapshots say.

The catalog is a Spark catalog (`spark.sql.catalog.<name>`) of Iceberg's SparkCatalog. When
the session does not define it, `register` adds the target's (conf.py: a Hadoop catalog
on the target's path, the Glue Data Catalog or a REST catalog): catalogs are looked up by
name at first use, so it may be set at run time and leaves Delta's `spark_catalog`
alone. A session that defines it (spark-submit `--conf`, the Glue job's) keeps its own.

Idempotency lives in the snapshot summaries: every commit of the engine carries
`cdc.writer` and `cdc.batch` (Iceberg's `CommitMetadata.withCommitProperties`, which
SparkWrite and SparkPositionDeltaWrite add to the snapshot of any write under it, SQL
MERGE included; the `snapshot-property.*` write options reach only DataFrame writes).
`last_batch` walks a table's snapshot ancestry back to the writer's last commit.

File size is a table property: Iceberg's Spark writers (SparkWrite for appends and
copy-on-write MERGE, SparkPositionDeltaWrite for merge-on-read) roll a task's data file
to a new one once it holds `write.target-file-size-bytes` (checked every 1,000 rows;
512 MiB by default), unless a DataFrame write passes the `target-file-size-bytes` option;
the engine's MERGE statements pass none. `table_properties` is what the engine keeps on
every table: set at creation, and by `align` on a table that holds another value.

Reads are planned with a smaller cost for opening a file (`read.split.open-file-cost`, 1
MiB instead of 4), set when the engine creates a table (a table's own value is kept):
Iceberg packs a scan's files into tasks by weight, and weighs a small data file as the
open cost times one plus its delete files. On merge-on-read every batch that touches a
partition adds a delete file that each of the partition's data files carries, so with 4
MiB every small key-table and data file became a task of its own (31 tasks for a
batch's 134,000 key rows on the benchmark's table) and each batch's MERGEs and key-table
read grew with the delete files. A smaller cost packs several small files in a task
again; a large file weighs its size either way. Measured on the 1M-row benchmark table
(eight 10,000-change batches, the same batches into two tables, alternating): median
batch 3.72 s against 4.16 s, the gap growing with the batches (docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.java_gateway import ensure_callback_server_started
from pyspark.sql import SparkSession
from pyspark.sql.types import StructType

from sinks.iceberg.conf import CatalogSettings
from sinks.iceberg.vectorized import guard_vectorized_reads
from transforms.types import quote

__all__ = [
    "BATCH",
    "OPEN_FILE_COST",
    "TARGET_FILE_SIZE",
    "WRITER",
    "IcebergCatalog",
    "columns_ddl",
    "table_properties",
    "with_commit_properties",
    "write_mode_properties",
]

WRITER = "cdc.writer"
BATCH = "cdc.batch"
TARGET_FILE_SIZE = "write.target-file-size-bytes"  # Iceberg's TableProperties
OPEN_FILE_COST = "read.split.open-file-cost"  # Iceberg's TableProperties; its default: 4 MiB
_OPEN_FILE_COST_BYTES = 1024 * 1024
_PROMOTABLE = {("int", "bigint"), ("float", "double")}


def columns_ddl(schema: StructType) -> str:
    """Column definitions for CREATE TABLE / ADD COLUMNS; every column nullable (a delete
    carries only the key)."""
    return ", ".join(f"{quote(f.name)} {f.dataType.simpleString()}" for f in schema.fields)


@dataclass(frozen=True)
class IcebergCatalog:
    """Tables of one namespace of a Spark catalog named `name`, defined by `settings`
    (none: a Hadoop catalog on the warehouse `register` is given)."""

    name: str
    namespace: str
    settings: CatalogSettings = dataclasses.field(default_factory=CatalogSettings)

    def define(self, spark: SparkSession, warehouse: str) -> None:
        """The catalog in the session, unless it has one by that name; nothing is written
        (a reader's step: `status` counts through it). Vectorized reads go off where the
        session's Iceberg and Spark crash with them (vectorized.py)."""
        guard_vectorized_reads(spark)
        key = f"spark.sql.catalog.{self.name}"
        if spark.conf.get(key, None) is None:
            conf = self.settings.conf or {
                key: "org.apache.iceberg.spark.SparkCatalog",
                f"{key}.type": "hadoop",
                f"{key}.warehouse": warehouse,
            }
            for name, value in conf.items():
                spark.conf.set(name, value)

    def exists(self, spark: SparkSession, name: str) -> bool:
        """Whether the namespace holds the table `name`."""
        return bool(spark.catalog.tableExists(f"{self.name}.{self.namespace}.{name}"))

    def register(self, spark: SparkSession, warehouse: str) -> None:
        """The catalog (`define`) and the namespace (a Glue database: created with its
        location, so tables are `<warehouse>/<namespace>/t`)."""
        self.define(spark, warehouse)
        where = self.settings.namespace_location
        location = "" if where is None else f" LOCATION '{where}'"  # validated: no quotes
        spark.sql(
            f"CREATE NAMESPACE IF NOT EXISTS {quote(self.name)}.{quote(self.namespace)}{location}"
        )

    def table(self, name: str) -> str:
        """The table's SQL name, quoted."""
        return ".".join(quote(p) for p in (self.name, self.namespace, name))

    def load(self, spark: SparkSession, name: str) -> Any | None:
        """Iceberg's Table object (JVM), or None when the table does not exist."""
        jvm: Any = spark.sparkContext._jvm
        ident = f"{self.name}.{self.namespace}.{name}"
        if not self.exists(spark, name):
            return None
        return jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, ident)

    def create(
        self,
        spark: SparkSession,
        name: str,
        schema: StructType,
        partitions: Sequence[str],
        mode: str,
        *,
        properties: Mapping[str, str],
    ) -> None:
        """Format version 2, `mode` (merge-on-read or copy-on-write) for MERGE, UPDATE and
        DELETE, the cost of opening a file for reads (module docstring), and the engine's
        `properties` (`table_properties`); `partitions` are SQL partition fields
        (`partition_fields`)."""
        parts = f" PARTITIONED BY ({', '.join(partitions)})"
        props = (
            {"format-version": "2", OPEN_FILE_COST: str(_OPEN_FILE_COST_BYTES)}
            | write_mode_properties(mode)
            | dict(properties)
        )
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {self.table(name)} ({columns_ddl(schema)}) USING iceberg"
            f"{parts if partitions else ''} TBLPROPERTIES ({_properties_sql(props)})"
        )

    def align(
        self, spark: SparkSession, name: str, table: Any, properties: Mapping[str, str]
    ) -> None:
        """Set on an existing table (`table`: its Iceberg Table, `load`) the `properties` it
        lacks or holds with another value: one metadata commit, none when all match. A
        property the engine does not set is left as the table has it."""
        held = table.properties()
        differ = {k: v for k, v in properties.items() if held.get(k) != v}
        if differ:
            spark.sql(
                f"ALTER TABLE {self.table(name)} SET TBLPROPERTIES ({_properties_sql(differ)})"
            )

    def evolve(self, spark: SparkSession, name: str, wanted: StructType) -> None:
        """Add the columns `wanted` has and the table lacks; widen in place what Iceberg
        promotes (int to bigint, float to double, a decimal with more digits, same scale).
        Any other change fails naming the column, before the batch writes anything."""
        current = {
            f.name.lower(): f.dataType.simpleString() for f in spark.table(self.table(name)).schema
        }
        missing = StructType([f for f in wanted.fields if f.name.lower() not in current])
        for field in wanted.fields:
            old, new = current.get(field.name.lower()), field.dataType.simpleString()
            if old is None or old == new:
                continue
            if not _promotable(old, new):
                raise ValueError(f"column {field.name}: {old} cannot become {new} in Iceberg")
            spark.sql(f"ALTER TABLE {self.table(name)} ALTER COLUMN {quote(field.name)} TYPE {new}")
        if missing.fields:
            spark.sql(f"ALTER TABLE {self.table(name)} ADD COLUMNS ({columns_ddl(missing)})")


def table_properties(target_file_size: int | None) -> dict[str, str]:
    """The table properties the engine keeps on every table it writes, beyond those fixed
    at creation: the size, in bytes, at which Iceberg's Spark writer rolls to a new data
    file (its default, 512 MiB, when None)."""
    return {} if target_file_size is None else {TARGET_FILE_SIZE: str(target_file_size)}


def write_mode_properties(mode: str) -> dict[str, str]:
    """The table properties of a write mode (merge-on-read or copy-on-write): how MERGE,
    UPDATE and DELETE change rows of existing files."""
    return {f"write.{op}.mode": mode for op in ("merge", "update", "delete")}


def _properties_sql(properties: Mapping[str, str]) -> str:
    """`'k'='v', ...` for TBLPROPERTIES; keys and values are the engine's own (no quotes)."""
    return ", ".join(f"'{k}'='{v}'" for k, v in properties.items())


def partition_fields(
    columns: Sequence[str], transforms: Sequence[str], only: Sequence[str] | None = None
) -> list[str]:
    """Partition fields as SQL: identity `columns`, or Iceberg `transforms` such as
    `days(ts)` or `bucket(16, id)` (validated by the config: a function of one column
    name); with `only`, the transforms of those columns alone."""
    if not transforms:
        return [quote(c) for c in columns]
    source = [re.findall(r"\w+", t)[-1] for t in transforms]
    return [t for t, c in zip(transforms, source, strict=True) if only is None or c in only]


def _promotable(old: str, new: str) -> bool:
    if (old, new) in _PROMOTABLE:
        return True
    if old.startswith("decimal(") and new.startswith("decimal("):
        p1, s1 = (int(x) for x in old[8:-1].split(","))
        p2, s2 = (int(x) for x in new[8:-1].split(","))
        return s1 == s2 and p2 >= p1
    return False


def last_batch(table: Any, writer_id: str) -> int:
    """The last batch `writer_id` committed to the table (-1: none): the newest snapshot
    in the current ancestry whose summary names the writer. Metadata only, no file read."""
    snapshot = table.currentSnapshot()
    while snapshot is not None:
        summary = snapshot.summary()
        if summary.get(WRITER) == writer_id:
            return int(summary.get(BATCH))
        parent = snapshot.parentId()
        snapshot = None if parent is None else table.snapshot(parent)
    return -1


class _Call:
    """A Python function as a java.util.concurrent.Callable (py4j calls it back on the JVM
    thread that waits for it, so Spark statements it runs stay on that thread)."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self._fn = fn

    def call(self) -> None:
        self._fn()

    class Java:
        implements = ["java.util.concurrent.Callable"]  # noqa: RUF012 - py4j's convention


def with_commit_properties(
    spark: SparkSession, writer_id: str, batch_id: int, fn: Callable[[], None]
) -> None:
    """Run `fn`; each snapshot it commits records (writer, batch) in its summary.

    The JVM calls `fn` back through py4j: PySpark's callback server is started first, as
    foreachBatch and streaming listeners start it. Started later, after a callback had
    used this thread's connection, its reset of the JVM's callback client would close
    that connection under the call (the next `addListener` of the session failed so).
    """
    ensure_callback_server_started(spark.sparkContext._gateway)  # type: ignore[no-untyped-call]
    jvm: Any = spark.sparkContext._jvm
    props = jvm.java.util.HashMap()
    props.put(WRITER, writer_id)
    props.put(BATCH, str(batch_id))
    error = jvm.java.lang.RuntimeException().getClass()
    jvm.org.apache.iceberg.spark.CommitMetadata.withCommitProperties(props, _Call(fn), error)

"""The targets of the contract suites: an engine, and how its users read it back."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow.dataset as pads
from delta.tables import DeltaTable
from pyiceberg.table import StaticTable
from pyspark.sql import SparkSession

from sinks.base import BatchResult, Engine
from sinks.delta import DeltaEngine
from sinks.delta.history import DeltaHistoryEngine
from sinks.iceberg import IcebergEngine, IcebergHistoryEngine
from sinks.lake import LakeEngine
from sinks.redshift import ConnectionSettings, WarehouseEngine
from sinks.retention import Expiry

BOOKKEEPING = "_op string, _seq string, _pos string, _commit_ts timestamp"
SCHEMA = f"id int, name string, day int, {BOOKKEEPING}"
COLUMNS = ("id", "name", "day")
State = set[tuple[object, ...]]


@dataclass
class Target:
    engine: Engine
    read_columns: Callable[[Sequence[str]], State]
    spark: SparkSession

    def read(self, columns: Sequence[str] = COLUMNS) -> State:
        """The rows a user of the target sees, as tuples of `columns`."""
        return self.read_columns(columns)

    def apply(
        self,
        rows: Sequence[tuple[object, ...]],
        batch_id: int,
        writer: str = "w",
        schema: str = SCHEMA,
    ) -> BatchResult:
        df = self.spark.createDataFrame([(*r, None) for r in rows], schema)
        return self.engine.apply(df, batch_id, writer)


def lake_target(spark: SparkSession, root: Path, expiry: Expiry | None = None) -> Target:
    path = root / uuid.uuid4().hex[:8]
    engine = LakeEngine(spark, str(path), keys=["id"], partition_by=["day"], expiry=expiry)

    def read(columns: Sequence[str]) -> State:
        if not path.exists():
            return set()
        table = pads.dataset(str(path), format="parquet", partitioning="hive").to_table()
        if table.num_rows == 0:
            return set()
        data = table.select(list(columns)).to_pydict()
        return set(zip(*(data[c] for c in columns), strict=True))

    return Target(engine, read, spark)


def delta_target(
    spark: SparkSession, root: Path, scd_type: int = 1, expiry: Expiry | None = None
) -> Target:
    path = str(root / uuid.uuid4().hex[:8])
    engine: Engine = (
        DeltaHistoryEngine(spark, path, keys=["id"], expiry=expiry)
        if scd_type == 2
        else DeltaEngine(spark, path, keys=["id"], partition_by=["day"], expiry=expiry)
    )

    def read(columns: Sequence[str]) -> State:
        if not DeltaTable.isDeltaTable(spark, path):
            return set()
        rows = spark.read.format("delta").load(path).select(*columns).collect()
        return {tuple(r) for r in rows}

    return Target(engine, read, spark)


def iceberg_target(
    spark: SparkSession,
    root: Path,
    expiry: Expiry | None = None,
    write_mode: str = "merge-on-read",
    scd_type: int = 1,
    *,
    partition_by: Sequence[str] | None = None,
) -> Target:
    """An Iceberg table in a Hadoop catalog of its own, read back by PyIceberg (not Spark)
    from its latest metadata file, the way a reader without a catalog service reads it.
    Type 1 is partitioned by `day` unless `partition_by` says otherwise; the history (SCD
    type 2) is not, like Delta's."""
    name = uuid.uuid4().hex[:8]
    warehouse = root / f"iceberg-{name}"
    engine = (IcebergHistoryEngine if scd_type == 2 else IcebergEngine)(
        spark,
        str(warehouse),
        table="t",
        keys=["id"],
        partition_by=(
            partition_by if partition_by is not None else [] if scd_type == 2 else ["day"]
        ),
        spark_catalog=f"iceberg_{name}",
        write_mode=write_mode,
        expiry=expiry,
    )

    def read(columns: Sequence[str]) -> State:
        return iceberg_rows(warehouse / "cdc" / "t", columns)

    return Target(engine, read, spark)


def iceberg_rows(table: Path, columns: Sequence[str]) -> State:
    """The rows PyIceberg reads from a Hadoop-catalog table's current metadata file."""
    hint = table / "metadata" / "version-hint.text"
    if not hint.exists():
        return set()
    metadata = table / "metadata" / f"v{hint.read_text().strip()}.metadata.json"
    data = StaticTable.from_metadata(str(metadata)).scan().to_arrow().select(list(columns))
    rows = data.to_pydict()
    return set(zip(*(rows[c] for c in columns), strict=True))


def second_of(moment: object) -> int | None:
    """The second of a timestamp PyIceberg read (None for NULL)."""
    return moment.second if isinstance(moment, datetime) else None


def warehouse_target(
    spark: SparkSession,
    settings: ConnectionSettings,
    scd_type: int = 1,
    expiry: Expiry | None = None,
) -> Target:
    table = f"t_{uuid.uuid4().hex[:8]}"
    engine = WarehouseEngine(
        settings, schema="public", table=table, keys=["id"], scd_type=scd_type, expiry=expiry
    )
    engine.recover()

    def read(columns: Sequence[str]) -> State:
        with settings.connect() as conn:
            cur = conn.cursor()
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",))
            if not cur.fetchone()[0]:
                return set()
            names = ", ".join(f'"{c}"' for c in columns)
            cur.execute(f'SELECT {names} FROM public."{table}"')
            return {tuple(r) for r in cur.fetchall()}

    return Target(engine, read, spark)

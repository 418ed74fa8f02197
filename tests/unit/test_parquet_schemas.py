"""Tables described by their DMS Parquet files: the footer's columns and types, the keys
from the config.

Files are written with pyarrow in the shape DMS writes them (`dataFormat=parquet`): CDC
files start with `Op`, full-load files have none, and `TimestampColumnName` adds a text
column of the commit time. A local footer is read by pyarrow; the last tests compare it
with Spark's reader (the one a file on S3 is described by) and decode a file with Spark.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from config import ConfigError, FilesSource, JobConfig
from runtime.decoding import SourceFormat
from runtime.routing import newest_file
from runtime.tables import Registry, catalog_of
from sources.discovery import UnsupportedColumnError
from sources.files import NotParquetError, parquet_footer, spark_footer
from sources.parquet_schemas import ParquetSchemas, arrow_column
from transforms.names import COMMIT_TS, FILE
from transforms.types import DatabaseColumn, dms_column, spark_type


@pytest.mark.parametrize(
    ("kind", "database", "spark"),
    [
        (pa.bool_(), "boolean", "boolean"),
        (pa.int8(), "tinyint", "tinyint"),
        (pa.int16(), "smallint", "smallint"),
        (pa.int32(), "int", "int"),
        (pa.int64(), "bigint", "bigint"),
        (pa.uint8(), "tinyint unsigned", "smallint"),
        (pa.uint16(), "smallint unsigned", "int"),
        (pa.uint32(), "int unsigned", "bigint"),
        (pa.uint64(), "bigint unsigned", "decimal(20,0)"),
        (pa.float32(), "float", "float"),
        (pa.float64(), "double", "double"),
        (pa.decimal128(38, 10), "decimal(38,10)", "decimal(38,10)"),
        (pa.decimal128(5, 0), "decimal(5,0)", "decimal(5,0)"),
        (pa.date32(), "date", "date"),
        (pa.date64(), "date", "date"),
        (pa.timestamp("s"), "datetime(0)", "timestamp"),
        (pa.timestamp("ms"), "datetime(3)", "timestamp"),
        (pa.timestamp("us"), "datetime(6)", "timestamp"),
        (pa.timestamp("us", tz="UTC"), "datetime(6)", "timestamp"),
        (pa.string(), "varchar", "string"),
        (pa.large_string(), "varchar", "string"),
        (pa.binary(), "blob", "string"),
        (pa.large_binary(), "blob", "string"),
    ],
)
def test_a_parquet_type_maps_to_the_type_information_schema_would_give(
    kind: pa.DataType, database: str, spark: str
) -> None:
    column = arrow_column("c", kind)

    assert column.column_type == database
    assert spark_type(column) == spark
    # DMS Parquet values arrive typed, never as text to parse (but booleans, unused).
    assert dms_column(column).type == spark


@pytest.mark.parametrize(
    "kind",
    [
        pa.time64("us"),
        pa.time32("ms"),
        pa.timestamp("ns"),
        pa.decimal256(40, 2),
        pa.list_(pa.int32()),
        pa.struct([("a", pa.int32())]),
        pa.float16(),
    ],
)
def test_a_type_spark_cannot_read_is_refused_naming_the_column(kind: pa.DataType) -> None:
    with pytest.raises(UnsupportedColumnError, match=re.escape(f"column c: Parquet type {kind},")):
        arrow_column("c", kind)


ORDERS = {
    "id": pa.array([1, 2], pa.int64()),
    "amount": pa.array(["12345678901234567890.123456789", "1.5"]).cast(pa.decimal128(29, 9)),
    "placed": pa.array([1_600_000_000_000_000, None], pa.timestamp("us")),
    "day": pa.array([18000, 18001], pa.date32()),
    "note": ["a", None],
}


def write(path: Path, columns: dict[str, Any], **options: Any) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path, **options)
    return str(path)


def cdc(columns: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A DMS CDC file's columns: `Op` first, then the row, then DMS's commit time."""
    rows = len(next(iter(columns.values())))
    return {"Op": ["I"] * rows, **columns, **extra}


def test_a_cdc_file_describes_its_table_without_dms_own_columns(tmp_path: Path) -> None:
    stamp = {"dms_commit": ["2021-05-05 10:00:00.000001", "2021-05-05 10:00:01.000000"]}
    path = write(tmp_path / "shop" / "orders" / "20210505-100000000.parquet",
                 cdc(ORDERS, **stamp))  # fmt: skip
    catalog = ParquetSchemas(parquet_footer, timestamp_column="dms_commit")

    catalog.offer("shop", "orders", f"file:{path}")  # as Spark names a landing file

    found = catalog.describe("shop", "orders")
    assert found is not None and found.keys == ()
    assert [(c.name, spark_type(c)) for c in found.columns] == [
        ("id", "bigint"),
        ("amount", "decimal(29,9)"),
        ("placed", "timestamp"),
        ("day", "date"),
        ("note", "string"),
    ]
    assert catalog.names() == [("shop", "orders")]


def test_without_the_timestamp_setting_dms_commit_column_is_a_string_column(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "t.parquet", {"id": [1], "dms_commit": ["2021-05-05 10:00:00"]})
    catalog = ParquetSchemas(parquet_footer)

    catalog.offer("shop", "t", path)

    found = catalog.describe("shop", "t")
    assert found is not None
    assert [(c.name, spark_type(c)) for c in found.columns] == [
        ("id", "bigint"),
        ("dms_commit", "string"),
    ]


def test_int96_timestamps_are_timestamps_and_nanoseconds_are_refused(tmp_path: Path) -> None:
    stamps = pa.array([1_600_000_000_000_000_000], pa.timestamp("ns"))
    legacy = write(tmp_path / "a.parquet", {"at": stamps}, use_deprecated_int96_timestamps=True)
    nanos = write(tmp_path / "b.parquet", {"at": stamps}, version="2.6")

    assert arrow_column("at", parquet_footer(legacy).field("at").type) == DatabaseColumn(
        "at", "datetime", "datetime(6)", 6
    )
    catalog = ParquetSchemas(parquet_footer)
    catalog.offer("shop", "t", nanos)
    assert catalog.describe("shop", "t") is None
    assert catalog.problem("shop", "t") == (
        "column at: Parquet type timestamp[ns], which Spark's Parquet reader cannot read"
    )


def job(tmp_path: Path, tables: list[dict[str, Any]], **source: Any) -> JobConfig:
    return JobConfig.model_validate(
        {
            "name": "shop",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": {"path": str(tmp_path / "landing"), "format": "dms-parquet", **source},
            "tables": tables,
            "target": {"path": str(tmp_path / "lake")},
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )


def registry(config: JobConfig) -> Registry:
    return Registry(config, catalog_of(config), dms_column)


def test_dms_parquet_without_a_catalog_is_described_by_its_files(tmp_path: Path) -> None:
    config = job(tmp_path, [{"name": "orders", "source_schema": "shop", "keys": ["id"]}])
    assert isinstance(catalog_of(config), ParquetSchemas)
    csv = config.model_copy(update={"source": FilesSource(path="x", format="dms-csv")})
    assert catalog_of(csv) is None
    json = config.model_copy(update={"source": FilesSource(path="x", format="dms-json")})
    assert catalog_of(json) is None


def test_an_entry_waits_for_its_first_file_and_a_new_column_is_followed(tmp_path: Path) -> None:
    tables = registry(job(tmp_path, [{"name": "orders", "source_schema": "shop", "keys": ["id"]}]))
    assert tables.start() == [] and tables.from_files and not tables.from_records
    folder = tmp_path / "landing" / "shop" / "orders"

    tables.offer_file("shop", "orders", write(folder / "LOAD00000001.parquet", ORDERS))
    orders = tables.find("shop", "orders")

    assert orders is not None and orders.discovered and orders.config.keys == ["id"]
    assert [(c.name, c.type) for c in orders.columns] == [
        ("id", "bigint"),
        ("amount", "decimal(29,9)"),
        ("placed", "timestamp"),
        ("day", "date"),
        ("note", "string"),
    ]

    wider = cdc({**ORDERS, "coupon": ["SPRING", None]})
    tables.offer_file("shop", "orders", write(folder / "20210505-100000000.parquet", wider))
    change = tables.refresh(orders)

    assert [(c.name, c.type) for c in change.added] == [("coupon", "string")]
    assert not change.incompatible and orders.stopped is None
    assert [c.name for c in orders.columns][-1] == "coupon"
    assert [c.name for c in orders.config.columns or []][-1] == "coupon"


def test_a_dropped_column_stops_the_table(tmp_path: Path) -> None:
    tables = registry(job(tmp_path, [{"name": "orders", "source_schema": "shop", "keys": ["id"]}]))
    tables.start()
    folder = tmp_path / "landing" / "shop" / "orders"
    tables.offer_file("shop", "orders", write(folder / "LOAD00000001.parquet", ORDERS))
    orders = tables.find("shop", "orders")
    assert orders is not None

    fewer = {k: v for k, v in ORDERS.items() if k != "note"}
    tables.offer_file("shop", "orders", write(folder / "20210505-100000000.parquet", fewer))
    tables.refresh(orders)

    assert orders.stopped == "column note dropped or renamed"


def test_an_entry_without_keys_is_refused_naming_the_key(tmp_path: Path) -> None:
    config = job(tmp_path, [{"name": "orders", "source_schema": "shop"}])

    with pytest.raises(ConfigError, match=r"^tables\.0\.keys: required: DMS Parquet files"):
        registry(config).start()


def test_a_table_only_a_pattern_matches_is_refused_for_want_of_keys(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = job(
        tmp_path,
        [{"include": "shop.*"}, {"name": "orders", "source_schema": "shop", "keys": ["id"]}],
    )
    tables = registry(config)
    assert tables.start() == []
    landing = tmp_path / "landing" / "shop"
    for table in ("orders", "refunds"):
        tables.offer_file("shop", table, write(landing / table / "LOAD1.parquet", ORDERS))

    with caplog.at_level(logging.WARNING, logger="stream_cdc"):
        refunds = tables.find("shop", "refunds")
    orders = tables.find("shop", "orders")

    assert refunds is None
    assert (
        "table shop.refunds is not replicated: it has no primary key (declare keys in an "
        "explicit entry)"
    ) in caplog.text
    assert orders is not None and orders.config.keys == ["id"]


def test_a_table_with_a_column_spark_cannot_read_is_not_replicated(tmp_path: Path) -> None:
    tables = registry(job(tmp_path, [{"name": "t", "source_schema": "shop", "keys": ["id"]}]))
    tables.start()
    columns = {"id": [1], "at": pa.array([3_600_000_000], pa.time64("us"))}
    tables.offer_file("shop", "t", write(tmp_path / "landing" / "shop" / "t" / "a.parquet",
                                         columns))  # fmt: skip

    assert tables.find("shop", "t") is None


def test_timestamp_column_is_a_dms_parquet_setting() -> None:
    with pytest.raises(ValueError, match="timestamp_column: only with format dms-parquet"):
        FilesSource(path="x", format="dms-csv", timestamp_column="dms_commit")


# ----------------------------------------------------------- with Spark: the readers


def test_spark_reads_the_types_pyarrow_reads_from_the_footer(
    spark: SparkSession, tmp_path: Path
) -> None:
    """What a file on S3 is described by (Spark's reader) agrees with the local reader."""
    columns = cdc({**ORDERS, "flag": [True, None], "small": pa.array([1, 2], pa.uint8()),
                   "ms": pa.array([1, 2], pa.timestamp("ms", tz="UTC"))})  # fmt: skip
    path = write(tmp_path / "a.parquet", columns)
    legacy = write(tmp_path / "b.parquet", {"at": pa.array([1], pa.timestamp("ns"))},
                   use_deprecated_int96_timestamps=True)  # fmt: skip

    for file in (path, legacy):
        local = [(f.name, spark_type(arrow_column(f.name, f.type))) for f in parquet_footer(file)]
        remote = spark_footer(f"file://{file}")
        assert [(f.name, spark_type(arrow_column(f.name, f.type))) for f in remote] == local


def test_dms_commit_column_is_the_commit_time_and_not_a_column(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = job(tmp_path, [{"name": "t", "source_schema": "shop", "keys": ["id"]}],
                 timestamp_column="dms_commit")  # fmt: skip
    tables = registry(config)
    tables.start()
    stamp = {"dms_commit": ["2021-05-05 10:00:00.000001", None]}
    path = write(tmp_path / "landing" / "shop" / "t" / "20210505.parquet",
                 cdc({"id": [1, 2], "v": ["a", "b"]}, **stamp))  # fmt: skip
    tables.offer_file("shop", "t", path)
    replica = tables.find("shop", "t")
    assert replica is not None and [c.name for c in replica.columns] == ["id", "v"]
    files = spark.createDataFrame([(f"file:{path}",)], f"{FILE} string")

    typed = files.transform(SourceFormat(config.source).typed_records(replica))

    shown = F.date_format(COMMIT_TS, "yyyy-MM-dd HH:mm:ss.SSSSSS").alias("at")  # session: UTC
    got = sorted((r["id"], r["v"], r["at"]) for r in typed.select("id", "v", shown).collect())
    assert got == [(1, "a", "2021-05-05 10:00:00.000001"), (2, "b", None)]
    assert "dms_commit" not in typed.columns


def test_the_newest_file_of_a_table_in_a_batch_is_what_describes_it(
    spark: SparkSession,
) -> None:
    """Full load before CDC, then DMS's time-named CDC files, whatever the folders."""
    paths = [
        "s3a://b/shop/t/20210505-100000000.parquet",
        "s3a://b/shop/t/LOAD00000009.parquet",
        "s3a://b/shop/t/2021/05/06/20210506-000000000.parquet",
        "s3a://b/shop/t/20210505-235959999.parquet",
    ]
    batch = spark.createDataFrame([(p,) for p in paths], f"{FILE} string")

    assert batch.agg(newest_file()).first() == (
        "s3a://b/shop/t/2021/05/06/20210506-000000000.parquet",
    )
    loads = spark.createDataFrame(
        [(p,) for p in [paths[1], "x/LOAD00000002.parquet"]], f"{FILE} string"
    )
    assert loads.agg(newest_file()).first() == ("s3a://b/shop/t/LOAD00000009.parquet",)


def test_both_footer_readers_tell_a_file_that_is_not_parquet_from_one_they_cannot_reach(
    spark: SparkSession, tmp_path: Path
) -> None:
    """`NotParquetError` (the file's records are quarantined) only for a file that is there
    and holds no Parquet footer: empty, cut short, another format, a torn footer; a file
    that cannot be read at all is an error the batch fails on (and is retried)."""
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"a": list(range(1000))}), good)
    whole = good.read_bytes()
    broken = {
        "empty": b"",
        "text": b"I,1,not parquet at all\n",
        "cut_short": whole[:-20],
        "torn_footer": whole[:-12] + b"\0" * 8 + whole[-4:],
    }
    for name, content in broken.items():
        path = tmp_path / f"{name}.parquet"
        path.write_bytes(content)
        for read in (parquet_footer, spark_footer):
            with pytest.raises(NotParquetError):
                read(path.as_uri())
    missing = (tmp_path / "missing.parquet").as_uri()
    for read in (parquet_footer, spark_footer):
        with pytest.raises(Exception) as raised:
            read(missing)
        assert not isinstance(raised.value, NotParquetError)

"""DMS Parquet files of both sides of a widening in one batch: every value arrives in the
table's types (sources/parquet_read.py).

Files are written with pyarrow as DMS writes them: the older one stores a column in the
type it had (`int32`, `float32`, a decimal with fewer digits), the newer one in the
widened type. Spark's Parquet reader alone refuses the older file when asked for the
wider type; the batch reader groups the files by their footers and casts.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession

from config import JobConfig
from runtime.decoding import SourceFormat
from runtime.tables import Registry, catalog_of
from sources.files import parquet_footer, read_parquet_files, spark_footer
from sources.parquet_read import FileGroup, group_files, read_in_table_types
from transforms.names import BLOCK, ERROR, FILE, RAW
from transforms.types import dms_column

BIG = 2**31 + 7  # does not fit the older file's 32-bit integers
TABLE = [("Op", "string"), ("id", "bigint"), ("ratio", "double"), ("amount", "decimal(12,3)")]


def write(path: Path, columns: dict[str, Any]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return str(path)


def older(path: Path) -> str:
    """A file written before the widening: 32-bit integers and floats, fewer digits."""
    return write(path, {
        "Op": ["I", "I"],
        "id": pa.array([-(2**31), 2**31 - 1], pa.int32()),
        "ratio": pa.array([1.1, -0.5], pa.float32()),
        "amount": pa.array([Decimal("999.99"), Decimal("-0.01")], pa.decimal128(5, 2)),
    })  # fmt: skip


def newer(path: Path) -> str:
    """A file written after it: the widened types, and values only they can hold."""
    return write(path, {
        "Op": ["U", "I"],
        "id": pa.array([BIG, -(2**62)], pa.int64()),
        "ratio": pa.array([0.1, 1e300], pa.float64()),
        "amount": pa.array([Decimal("123456789.123"), None], pa.decimal128(12, 3)),
    })  # fmt: skip


def as_float32(value: float) -> float:
    """The value a 32-bit float holds, exactly."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


@contextmanager
def spark_jobs(spark: SparkSession, name: str) -> Iterator[list[int]]:
    """The ids of the Spark jobs this thread starts inside the block."""
    context = spark.sparkContext
    context.setJobGroup(name, name)
    started: list[int] = []
    try:
        yield started
    finally:
        started += list(context.statusTracker().getJobIdsForGroup(name))
        context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]


def scans(frame: DataFrame) -> int:
    """How many Parquet scans the frame's plan holds."""
    return str(frame._jdf.queryExecution().executedPlan().toString()).count("FileScan parquet")


# ----------------------------------------------------- which files are read how (no Spark)


def test_files_that_store_the_tables_types_are_one_group(tmp_path: Path) -> None:
    a, b = newer(tmp_path / "a.parquet"), newer(tmp_path / "b.parquet")

    groups = group_files(TABLE, {a: parquet_footer(a), b: parquet_footer(b)})

    assert groups == [FileGroup((a, b))]


def test_an_older_file_is_read_in_the_types_it_stores(tmp_path: Path) -> None:
    old, new = older(tmp_path / "LOAD1.parquet"), newer(tmp_path / "20210506.parquet")

    groups = group_files(TABLE, {old: parquet_footer(old), new: parquet_footer(new)})

    assert groups == [
        FileGroup((new,)),
        FileGroup((old,), (("id", "int"), ("ratio", "float"), ("amount", "decimal(5,2)"))),
    ]


def test_a_column_the_file_lacks_or_the_table_lacks_changes_nothing(tmp_path: Path) -> None:
    fewer = write(tmp_path / "a.parquet", {"Op": ["I"], "id": pa.array([1], pa.int64()),
                                           "other": pa.array([1], pa.int32())})  # fmt: skip

    assert group_files(TABLE, {fewer: parquet_footer(fewer)}) == [FileGroup((fewer,))]


@pytest.mark.parametrize(
    ("stored", "kind"),
    [
        (pa.array([2**40], pa.int64()), "bigint"),  # narrower in the table: never truncated
        (pa.array(["7"], pa.string()), "string"),  # another type
    ],
)
def test_a_type_that_does_not_widen_to_the_tables_is_a_group_of_its_own_with_the_reason(
    tmp_path: Path, stored: pa.Array, kind: str
) -> None:
    fits = write(tmp_path / "a.parquet", {"id": pa.array([1], pa.int32())})
    unfit = write(tmp_path / "b.parquet", {"id": stored, "ratio": pa.array([1.0], pa.float32())})

    groups = group_files(
        [("id", "int"), ("ratio", "double")],
        {fits: parquet_footer(fits), unfit: parquet_footer(unfit)},
    )

    assert [(g.paths, g.stored) for g in groups] == [
        ((fits,), ()),
        ((unfit,), (("id", kind), ("ratio", "float"))),
    ]
    assert groups[0].unfit is None
    assert groups[1].unfit == (
        f"column id is stored as {kind} where the table has int (not a widening, never cast:"
        " make the table's type fit, then reprocess the file, docs/operations.md, Reprocessing)"
    )


# ------------------------------------------------------------------- with Spark


@pytest.fixture(params=["vectorized", "row-by-row"])
def reader(request: pytest.FixtureRequest, spark: SparkSession) -> Iterator[str]:
    """Spark's two Parquet readers: the vectorized one (the default) and parquet-mr's."""
    key = "spark.sql.parquet.enableVectorizedReader"
    spark.conf.set(key, str(request.param == "vectorized").lower())
    yield str(request.param)
    spark.conf.unset(key)


def test_sparks_reader_alone_refuses_the_older_file(
    spark: SparkSession, tmp_path: Path, reader: str
) -> None:
    """Why the batch reader exists: asked for the widened types, Spark 3.5 fails."""
    old = older(tmp_path / "LOAD1.parquet")
    refused = {
        "vectorized": r"Parquet column cannot be converted .* Expected: bigint, Found: INT32",
        "row-by-row": r"Encountered error while reading file",
    }

    with pytest.raises(Exception, match=refused[reader]):
        read_parquet_files(spark, [old], "Op string, id bigint").collect()


def test_both_sides_of_a_widening_are_read_with_every_value_kept(
    spark: SparkSession, tmp_path: Path, reader: str
) -> None:
    old, new = older(tmp_path / "LOAD1.parquet"), newer(tmp_path / "20210506.parquet")

    with spark_jobs(spark, "widening-read") as jobs:
        rows = read_in_table_types(spark, [old, new], TABLE)

    assert jobs == []  # footers are read without Spark
    assert [(f.name, f.dataType.simpleString()) for f in rows.schema] == [
        *TABLE,
        (FILE, "string"),
        (BLOCK, "bigint"),
        (RAW, "string"),
        (ERROR, "string"),
    ]
    got = sorted(
        (r[FILE].rsplit("/", 1)[-1], r["Op"], r["id"], r["ratio"], r["amount"], r[BLOCK])
        for r in rows.collect()
    )
    assert got == [
        ("20210506.parquet", "I", -(2**62), 1e300, None, 0),
        ("20210506.parquet", "U", BIG, 0.1, Decimal("123456789.123"), 0),
        ("LOAD1.parquet", "I", -(2**31), as_float32(1.1), Decimal("999.990"), 0),
        ("LOAD1.parquet", "I", 2**31 - 1, as_float32(-0.5), Decimal("-0.010"), 0),
    ]
    assert {(r[RAW], r[ERROR]) for r in rows.collect()} == {(None, None)}


@pytest.mark.parametrize(
    ("stored", "kind", "kept"),
    [
        (pa.array([2**40, None], pa.int64()), "bigint", 2**40),  # wider than the table
        (pa.array(["7 apples", None], pa.string()), "string", "7 apples"),  # another type
    ],
)
@pytest.mark.usefixtures("reader")  # both of Spark's Parquet readers
def test_a_file_that_does_not_fit_comes_with_its_reason_and_its_values_never_truncated(
    spark: SparkSession, tmp_path: Path, stored: pa.Array, kind: str, kept: Any
) -> None:
    fits = write(tmp_path / "a.parquet", {"Op": ["I"], "id": pa.array([5], pa.int32())})
    unfit = write(tmp_path / "b.parquet", {"Op": ["U", "D"], "id": stored})

    rows = read_in_table_types(spark, [fits, unfit], [("Op", "string"), ("id", "int")])

    got = sorted(((r["Op"], r["id"], r[RAW], r[ERROR]) for r in rows.collect()), key=lambda r: r[0])
    assert got[0] == ("D", None, json.dumps({"Op": "D"}, separators=(",", ":")), got[0][3])
    assert got[1] == ("I", 5, None, None)  # the file that fits is read as before
    assert got[2][:3] == ("U", None, json.dumps({"Op": "U", "id": kept}, separators=(",", ":")))
    for _, _, _, error in (got[0], got[2]):
        assert (
            error == f"file file://{unfit}: column id is stored as {kind} where the table "
            "has int (not a widening, never cast: make the table's type fit, then reprocess "
            "the file, docs/operations.md, Reprocessing)"
        )


def test_files_that_agree_are_one_scan_and_no_spark_job(
    spark: SparkSession, tmp_path: Path
) -> None:
    a, b = newer(tmp_path / "a.parquet"), newer(tmp_path / "b.parquet")
    old = older(tmp_path / "LOAD1.parquet")

    with spark_jobs(spark, "agreeing-read") as jobs:
        agreeing = read_in_table_types(spark, [a, b], TABLE)

    assert jobs == []
    assert scans(agreeing) == 1
    assert scans(read_in_table_types(spark, [a, b, old], TABLE)) == 2
    with spark_jobs(spark, "agreeing-count") as counted:
        assert agreeing.count() == 4
    assert counted  # the probe sees a job when one runs: the empty lists above are real


def test_a_remote_footer_is_read_without_a_spark_job(spark: SparkSession, tmp_path: Path) -> None:
    """`spark_footer` is how a file on S3 is described: Spark's converter, on the driver."""
    old = older(tmp_path / "LOAD1.parquet")

    with spark_jobs(spark, "remote-footer") as jobs:
        footer = spark_footer(f"file://{old}")

    assert jobs == []
    assert footer.names == ["Op", "id", "ratio", "amount"]
    assert [str(t) for t in footer.types] == ["string", "int32", "float", "decimal128(5, 2)"]


def test_a_batch_across_a_followed_widening_decodes_every_value(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Discovery follows the widening at the batch's newest file; the batch's older file
    is still read, in the table's new types."""
    config = JobConfig.model_validate({
        "name": "shop",
        "checkpoint": str(tmp_path / "checkpoint"),
        "source": {"path": str(tmp_path / "landing"), "format": "dms-parquet"},
        "tables": [{"name": "t", "source_schema": "shop", "keys": ["id"]}],
        "target": {"path": str(tmp_path / "lake")},
        "quarantine": {"path": str(tmp_path / "quarantine")},
    })  # fmt: skip
    tables = Registry(config, catalog_of(config), dms_column)
    tables.start()
    folder = tmp_path / "landing" / "shop" / "t"
    old, new = older(folder / "LOAD00000001.parquet"), newer(folder / "20210506-000000000.parquet")
    tables.offer_file("shop", "t", old)  # an earlier batch described the table
    replica = tables.find("shop", "t")
    assert replica is not None
    tables.offer_file("shop", "t", new)  # this batch's newest file: the widened types
    change = tables.refresh(replica)
    assert change.describe() == (
        "column id widened int -> bigint; column ratio widened float -> double; "
        "column amount widened decimal(5,2) -> decimal(12,3)"
    )
    files = spark.createDataFrame([(f"file:{p}",) for p in (old, new)], f"{FILE} string")

    typed = files.transform(SourceFormat(config.source).typed_records(replica))

    got = sorted((r["id"], r["ratio"], r["amount"]) for r in typed.collect())
    assert got == [
        (-(2**62), 1e300, None),
        (-(2**31), as_float32(1.1), Decimal("999.990")),
        (2**31 - 1, as_float32(-0.5), Decimal("-0.010")),
        (BIG, 0.1, Decimal("123456789.123")),
    ]

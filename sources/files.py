"""DMS landing files as one stream per landing root; the checkpoint remembers which files
were read (it plays Glue's job bookmarks)."""

import os
import re
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from config import FilesSource, TableConfig
from transforms.names import BLOCK, FILE

__all__ = ["landing_path", "parquet_footer", "read_landing", "read_parquet_files", "spark_footer"]

# Spark's binaryFile source; only `path` is selected, so no file content is read.
_BINARY_FILE = "path string, modificationTime timestamp, length long, content binary"


def landing_path(source: FilesSource, table: TableConfig) -> str:
    """DMS writes a table's files under <root>/<schema>/<table>/; `path` overrides it."""
    if table.path:
        return table.path
    return f"{source.path.rstrip('/')}/{table.source_schema}/{table.source_name}"


def read_landing(spark: SparkSession, source: FilesSource, root: str) -> DataFrame:
    """Every file under `root`, sub-folders included (never inferSchema on a stream).

    Text formats: one row per line, `value` with `_file` and `_block`. Parquet: one row per
    file, its path in `_file` (the content is not read here: each table's files are read
    with that table's schema in the batch, `read_parquet_files`).
    """
    reader = spark.readStream.option("maxFilesPerTrigger", source.max_files_per_trigger).option(
        "recursiveFileLookup", "true"
    )
    if source.format == "dms-parquet":
        files = (
            reader.format("binaryFile")
            .schema(_BINARY_FILE)
            .option("pathGlobFilter", "*.parquet")
            .load(root)
        )
        return files.select(F.col("path").alias(FILE))
    return (
        reader.format("text")
        .load(root)
        .select(
            "*",
            F.input_file_name().alias(FILE),
            F.expr("input_file_block_start()").alias(BLOCK),
        )
    )


def read_parquet_files(spark: SparkSession, paths: list[str], ddl: str) -> DataFrame:
    """The rows of DMS Parquet files, typed by `ddl`, with `_file` and `_block`."""
    return (
        spark.read.schema(ddl)
        .parquet(*paths)
        .select(
            "*",
            F.input_file_name().alias(FILE),
            F.expr("input_file_block_start()").alias(BLOCK),
        )
    )


_LOCAL = re.compile(r"^(file:(//)?)?(?=/)")


def parquet_footer(path: str) -> pa.Schema:
    """The schema in a Parquet file's footer; no row is read.

    A local file (a plain path or a `file:` URI) is read with pyarrow: its footer only,
    no Spark job (INT96 timestamps as microseconds, as Spark reads them). Any other file
    (`s3a://`...) is read by Spark's Parquet reader, through the job's file systems and
    credentials: one small Spark job that reads that footer.
    """
    local = _LOCAL.match(path)
    if local is not None:
        name = path[local.end() :]
        name = name if os.path.exists(name) else unquote(name)  # a URI's %20 and such
        return pq.ParquetFile(name, coerce_int96_timestamp_unit="us").schema_arrow
    return spark_footer(path)


def spark_footer(path: str) -> pa.Schema:
    """The schema of a Parquet file as Spark's reader infers it (one Spark job that reads
    the footer), in Arrow's types as PySpark converts them."""
    return to_arrow_schema(SparkSession.active().read.parquet(path).schema)

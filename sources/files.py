"""DMS landing files as one stream per landing root; the checkpoint remembers which files
were read (it plays Glue's job bookmarks)."""

import json
import os
import re
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from py4j.protocol import Py4JJavaError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType

from config import FilesSource, TableConfig
from transforms.names import BLOCK, FILE

__all__ = [
    "NotParquetError",
    "landing_path",
    "parquet_footer",
    "read_landing",
    "read_parquet_files",
    "spark_footer",
]

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
    with that table's schema in the batch: sources/parquet_read.py `read_in_table_types`).
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


class NotParquetError(ValueError):
    """A file whose footer is not a Parquet footer: empty, cut short, or another format.
    Not raised for a file that cannot be reached (missing, refused): that is retried."""


# What Parquet's Java reader says of a file that is not Parquet, or whose footer is torn.
_NOT_PARQUET_JVM = (
    "is not a Parquet file",
    "corrupted file: the footer",
    "can not read class org.apache.parquet.format",
)


def parquet_footer(path: str) -> pa.Schema:
    """The schema in a Parquet file's footer; no row is read, no Spark job runs.

    A local file (a plain path or a `file:` URI) is read with pyarrow (INT96 timestamps
    as microseconds, as Spark reads them). Any other file (`s3a://`...) is read by
    `spark_footer`, through the job's file systems and credentials. Raises `NotParquetError`
    when the file is there but its footer is not Parquet's.
    """
    local = _LOCAL.match(path)
    if local is None:
        return spark_footer(path)
    name = path[local.end() :]
    name = name if os.path.exists(name) else unquote(name)  # a URI's %20 and such
    try:
        return pq.ParquetFile(name, coerce_int96_timestamp_unit="us").schema_arrow
    except pa.ArrowInvalid as exc:
        raise NotParquetError(_first_line(str(exc))) from None
    except OSError as exc:  # pyarrow's error for a footer it cannot decode
        if str(exc).startswith("Couldn't deserialize thrift"):
            raise NotParquetError(_first_line(str(exc))) from None
        raise


def _first_line(said: str) -> str:
    """What a reader said, for a quarantine reason: its first line, bounded."""
    return (said.strip().splitlines() or ["(no message)"])[0][:300]


def spark_footer(path: str) -> pa.Schema:
    """The schema of a Parquet file as Spark's reader infers it, in Arrow's types as
    PySpark converts them: its footer read on the driver through Hadoop's file system of
    the path (the job's settings and credentials), converted by Spark's own converter of
    Parquet schemas; no Spark job."""
    spark = SparkSession.active()
    jvm: Any = spark.sparkContext._jvm
    state = spark._jsparkSession.sessionState()
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    stored = jvm.org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(
        hadoop_path, state.newHadoopConf()
    )
    try:
        reader = jvm.org.apache.parquet.hadoop.ParquetFileReader.open(stored)
    except Py4JJavaError as exc:
        said = str(exc.java_exception)
        if any(words in said for words in _NOT_PARQUET_JVM):
            raise NotParquetError(_first_line(said)) from None
        raise
    try:
        message = reader.getFileMetaData().getSchema()
    finally:
        reader.close()
    parquet = jvm.org.apache.spark.sql.execution.datasources.parquet
    converted = parquet.ParquetToSparkSchemaConverter(state.conf()).convert(message)
    return to_arrow_schema(StructType.fromJson(json.loads(converted.json())))

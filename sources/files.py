"""DMS landing files as one stream per landing root; the checkpoint remembers which files
were read (it plays Glue's job bookmarks)."""

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config import FilesSource, TableConfig
from transforms.names import BLOCK, FILE

__all__ = ["landing_path", "read_landing", "read_parquet_files"]

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

"""DMS landing files as a stream; the checkpoint remembers which files were read."""

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config import FilesSource, TableConfig
from transforms.names import BLOCK, FILE


def landing_path(source: FilesSource, table: TableConfig) -> str:
    """DMS writes a table's files under <bucket folder>/<schema>/<table>/."""
    if table.path:
        return table.path
    return f"{source.path.rstrip('/')}/{table.source_schema}/{table.source_name}"


def read_landing_files(spark: SparkSession, source: FilesSource, table: TableConfig) -> DataFrame:
    """One row per record with `_file` and `_block` (never inferSchema on a stream).

    Text formats yield the line in `value`; Parquet yields the typed columns and `Op`.
    Sub-folders are read too (DMS date-partitioned folders).
    """
    reader = spark.readStream.option("maxFilesPerTrigger", source.max_files_per_trigger).option(
        "recursiveFileLookup", "true"
    )
    path = landing_path(source, table)
    if source.format == "dms-parquet":
        ddl = ", ".join(["Op string", *[f"`{c.name}` {c.type}" for c in table.columns]])
        raw = reader.schema(ddl).parquet(path)
    else:
        raw = reader.format("text").load(path)
    return raw.select(
        "*",
        F.input_file_name().alias(FILE),
        F.expr("input_file_block_start()").alias(BLOCK),
    )

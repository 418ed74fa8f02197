"""Register lake and Delta tables in the AWS Glue Data Catalog (glue.py), with the Hive
names of Spark types and partition paths (hive.py)."""

from sinks.catalog.glue import (
    CREATE_BATCH,
    DELETE_BATCH,
    CatalogError,
    DeltaCatalog,
    GlueTable,
    PartitionCatalog,
)
from sinks.catalog.hive import chunks, glue_columns, glue_location, hive_type, partition_values

__all__ = [
    "CREATE_BATCH",
    "DELETE_BATCH",
    "CatalogError",
    "DeltaCatalog",
    "GlueTable",
    "PartitionCatalog",
    "chunks",
    "glue_columns",
    "glue_location",
    "hive_type",
    "partition_values",
]

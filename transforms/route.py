"""Which source table each raw record belongs to: the first step of a source's batch.

One query reads a whole source; each record gets `_schema` and `_table`, the source table
it belongs to, before anything else is decoded. The transport tells:

* Debezium on Kafka: the topic, `<prefix>.<database>.<table>` (tombstones included);
* DMS on Kinesis: the record's metadata
  `schema-name`/`table-name`; a record that does not parse falls back on its partition
  key when DMS made it `<schema>.<table>`;
* DMS landing files (every format, JSON too): the folders, `<root>/<schema>/<table>/...`.

A record no rule places gets NULL: it is quarantined once, under `_unrouted`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.names import FILE, SOURCE_SCHEMA, SOURCE_TABLE

__all__ = ["UNROUTED", "by_dms_metadata", "by_landing_folder", "by_topic", "normalized_path"]

UNROUTED = "_unrouted"  # the quarantine folder of records that belong to no table


def by_topic(topic_prefix: str) -> Callable[[DataFrame], DataFrame]:
    """Kafka rows (`topic`) -> `_schema`, `_table` from `<prefix>.<database>.<table>`."""
    pattern = f"^{re.escape(topic_prefix)}\\.([^.]+)\\.([^.]+)$"

    def transform(df: DataFrame) -> DataFrame:
        return df.select(
            "*",
            _group(F.col("topic"), pattern, 1).alias(SOURCE_SCHEMA),
            _group(F.col("topic"), pattern, 2).alias(SOURCE_TABLE),
        )

    return transform


def by_dms_metadata(partition_key: Column | None = None) -> Callable[[DataFrame], DataFrame]:
    """DMS JSON records (`value`) -> `_schema`, `_table` from the metadata, else from a
    `<schema>.<table>` partition key (DMS's `partition-key-type: schema-table`)."""
    schema = "metadata struct<`schema-name`: string, `table-name`: string>"

    def transform(df: DataFrame) -> DataFrame:
        meta = F.from_json(F.col("value"), schema)["metadata"]
        key_schema = key_table = F.lit(None).cast("string")
        if partition_key is not None:
            key_schema = _group(partition_key, r"^([^.]+)\.([^.]+)$", 1)
            key_table = _group(partition_key, r"^([^.]+)\.([^.]+)$", 2)
        table = meta["table-name"]
        named = table.isNotNull() & (table != "")
        return df.select(
            "*",
            F.when(named, F.coalesce(meta["schema-name"], F.lit("")))
            .otherwise(key_schema)
            .alias(SOURCE_SCHEMA),
            F.when(named, table).otherwise(key_table).alias(SOURCE_TABLE),
        )

    return transform


def by_landing_folder(root: str) -> Callable[[DataFrame], DataFrame]:
    """Landing-file rows (`_file`) -> `_schema`, `_table`: the two folders under `root`."""
    prefix = re.escape(normalized_path(root).rstrip("/"))
    pattern = f"^{prefix}/([^/]+)/([^/]+)/"

    def transform(df: DataFrame) -> DataFrame:
        path = F.regexp_replace(F.col(FILE), r"^[A-Za-z][A-Za-z0-9+.-]*:/*", "/")
        return df.select(
            "*",
            _group(path, pattern, 1).alias(SOURCE_SCHEMA),
            _group(path, pattern, 2).alias(SOURCE_TABLE),
        )

    return transform


def normalized_path(path: str) -> str:
    """A path or URI without its scheme and with one leading slash: `file:///a/b` and
    `file:/a/b` are both `/a/b`; `s3a://bucket/key` is `/bucket/key`."""
    return "/" + re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*:/*", "", path).lstrip("/")


def _group(value: Column, pattern: str, index: int) -> Column:
    found = F.regexp_extract(value, pattern, index)
    return F.when(found != "", found)

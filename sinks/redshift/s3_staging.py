"""Stage a batch as Parquet on S3 for Redshift's COPY.

The executors write the batch with Spark under `<path>/<table>/<writer>/<batch>/`,
overwriting that folder, so a retried batch replaces its files instead of adding to
them. The driver then loads the staging table with one `COPY ... FORMAT AS PARQUET`
from the prefix `<folder>/part-` (Spark's data files; its `_SUCCESS` marker is left
out), and deletes the objects once the merge has committed.

Redshift maps Parquet columns to the table's columns by position, so the DataFrame
written here must have the staging table's columns in its order
(`WarehouseEngine._stage_s3` and `Dialect.create_stage`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sinks.redshift.dialect import Dialect
from sinks.redshift.statements import Statement

__all__ = ["S3Stage", "parquet_column"]

log = logging.getLogger("stream_cdc")
_DATA_FILES = "part-"


def parquet_column(df: DataFrame, name: str) -> SparkColumn:
    """A column as Redshift's COPY reads it from Parquet: tinyint (an 8-bit Parquet
    annotation) widened to smallint, the stage's SMALLINT; every other type as it is."""
    column = F.col(f"`{name}`")
    if df.schema[name].dataType.simpleString() == "tinyint":
        return column.cast("smallint").alias(name)
    return column


class S3Stage:
    """Where and how the batches of one target are staged on S3.

    `s3` builds a boto3 S3 client (the job's `aws` config); `path` is `s3://bucket/prefix`
    (`s3a://` is accepted: Redshift is always given `s3://`).
    """

    def __init__(self, path: str, iam_role: str, s3: Callable[[], Any]) -> None:
        url = urlparse(path)
        if url.scheme not in ("s3", "s3a") or not url.netloc:
            raise ValueError(f"staging.path: expected s3://bucket/prefix, got {path!r}")
        self.bucket = url.netloc
        self.prefix = url.path.strip("/")
        self.iam_role = iam_role
        self._s3 = s3
        self._client: Any = None

    def folder(self, table: str, writer_id: str, batch_id: int) -> str:
        """The key prefix of one batch, ending with '/'."""
        parts = [p for p in (self.prefix, table, writer_id, str(batch_id)) if p]
        return "/".join(parts) + "/"

    def write(self, rows: DataFrame, table: str, writer_id: str, batch_id: int) -> str:
        """Write the batch from the executors; the folder's key prefix."""
        folder = self.folder(table, writer_id, batch_id)
        rows.write.mode("overwrite").parquet(f"s3://{self.bucket}/{folder}")
        return folder

    def data_files(self, folder: str) -> list[tuple[str, int]]:
        """(key, size) of the Parquet files of a staged batch."""
        return [(k, n) for k, n in self._objects(folder) if _is_data_file(k)]

    def load(self, dialect: Dialect, schema: str, stage: str, folder: str) -> list[Statement]:
        """The statements that fill the staging table from a staged batch: one COPY, or
        none when Spark wrote no data file (COPY fails on a prefix that matches nothing)."""
        if not self.data_files(folder):
            return []
        url = f"s3://{self.bucket}/{folder}{_DATA_FILES}"
        return [dialect.copy_parquet(schema, stage, url, self.iam_role)]

    def cleanup(self, folder: str) -> int:
        """Delete a committed batch's objects; how many were deleted."""
        keys = [k for k, _ in self._objects(folder)]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys at most
            chunk = keys[start : start + 1000]
            self.client().delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
            )
        return len(keys)

    def client(self) -> Any:
        if self._client is None:
            self._client = self._s3()
        return self._client

    def _objects(self, folder: str) -> Sequence[tuple[str, int]]:
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=folder)
        )
        return [(o["Key"], int(o["Size"])) for page in pages for o in page.get("Contents", [])]


def _is_data_file(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith(_DATA_FILES)

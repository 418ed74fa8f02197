"""Register lake and Delta tables in the AWS Glue Data Catalog, through boto3.

Athena, Redshift Spectrum and Glue jobs find a table by its catalog entry, not by its
folder. The seed ran a crawler over the lake after each load; here the engine says what
it changed and the catalog is told directly, with no crawl and no listing:

* a **lake** table is a Hive-style Parquet table; after each commit the partitions the
  commit created are added (`BatchCreatePartition`, at most 100 a call) and those it
  emptied are dropped (`BatchDeletePartition`, at most 25 a call). At start the engine
  reconciles the catalog with its manifest (one paged listing of the table's
  partitions), which finishes the registration of a batch whose process died between
  its commit and the catalog call. A partition that already exists is not an error;
  every other error names the table and carries AWS's message.
* a **Delta** table is registered once as a native Delta table (Athena reads its schema
  and files from the Delta log; the columns in the catalog are informational) and its
  columns are updated when a batch brings new ones.

The database and the table are created on first use. Locations use the `s3://` scheme
whatever scheme the job writes with (`s3a://` under spark-submit): it is the one every
AWS reader understands. Names are lower-cased, as the Glue catalog requires for Hive
compatibility.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from pyspark.sql.types import StructType

from aws import AWS_ERRORS, describe
from sinks.catalog.hive import chunks, glue_columns, glue_location, partition_values

__all__ = [
    "CREATE_BATCH",
    "DELETE_BATCH",
    "CatalogError",
    "DeltaCatalog",
    "GlueTable",
    "PartitionCatalog",
]

CREATE_BATCH = 100  # BatchCreatePartition: PartitionInputList holds at most 100 entries
DELETE_BATCH = 25  # BatchDeletePartition: PartitionsToDelete holds at most 25 entries

_PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
_PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
_PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


class CatalogError(RuntimeError):
    """The catalog refused a registration; the message names the table and AWS's reason."""


class PartitionCatalog(Protocol):
    """What the lake engine tells a catalog after a commit (and at start)."""

    def sync(
        self,
        schema: StructType,
        partition_by: Sequence[str],
        *,
        added: Iterable[str],
        removed: Iterable[str] = (),
    ) -> None:
        """Make the table match `schema`, then add and drop partitions (Hive paths)."""

    def reconcile(
        self, schema: StructType, partition_by: Sequence[str], partitions: Iterable[str]
    ) -> None:
        """Make the table and its partitions exactly `partitions` (at start)."""


class DeltaCatalog(Protocol):
    """What the Delta engine tells a catalog when it creates or widens a table."""

    def register_delta(self, schema: StructType, partition_by: Sequence[str]) -> None:
        """Create or update the table's entry as a native Delta table."""


# ------------------------------------------------------------------- the catalog


class GlueTable:
    """One table's entry in the Glue Data Catalog; one per engine, reused for every batch.

    Created by the job from a boto3 Glue client (`aws.client("glue", ...)`), so a local
    endpoint and AWS share the code path.
    """

    def __init__(self, glue: Any, *, database: str, table: str, location: str) -> None:
        self._glue = glue
        self.database = database.lower()
        self.table = table.lower()
        self.location = glue_location(location)
        self._columns: set[str] | None = None  # column names the entry is known to have

    @property
    def name(self) -> str:
        return f"{self.database}.{self.table}"

    # --------------------------------------------------------------------- lake

    def sync(
        self,
        schema: StructType,
        partition_by: Sequence[str],
        *,
        added: Iterable[str],
        removed: Iterable[str] = (),
    ) -> None:
        data = [f.name for f in schema.fields if f.name not in partition_by]
        self._ensure_table(
            {
                "Name": self.table,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
                "PartitionKeys": glue_columns(schema, partition_by),
                "StorageDescriptor": self._descriptor(schema, data, self.location),
            },
            schema,
        )
        if not partition_by:
            return
        self._add_partitions(schema, data, partition_by, sorted(set(added)))
        self._drop_partitions([partition_values(p, partition_by) for p in sorted(set(removed))])

    def reconcile(
        self, schema: StructType, partition_by: Sequence[str], partitions: Iterable[str]
    ) -> None:
        self.sync(schema, partition_by, added=())
        if not partition_by:
            return
        wanted = {tuple(partition_values(p, partition_by)): p for p in partitions}
        present = self._registered_partitions()
        data = [f.name for f in schema.fields if f.name not in partition_by]
        missing = sorted(path for values, path in wanted.items() if values not in present)
        self._add_partitions(schema, data, partition_by, missing)
        self._drop_partitions(sorted(list(v) for v in present - set(wanted)))

    def _registered_partitions(self) -> set[tuple[str, ...]]:
        """The values of every partition the catalog holds for the table."""
        pages = self._call_pages(
            "GetPartitions",
            "get_partitions",
            DatabaseName=self.database,
            TableName=self.table,
            ExcludeColumnSchema=True,
        )
        return {tuple(p["Values"]) for page in pages for p in page.get("Partitions", [])}

    def _add_partitions(
        self, schema: StructType, data: list[str], keys: Sequence[str], paths: list[str]
    ) -> None:
        inputs = [
            {
                "Values": partition_values(path, keys),
                "StorageDescriptor": self._descriptor(schema, data, f"{self.location}/{path}"),
            }
            for path in paths
        ]
        self._in_batches(
            "BatchCreatePartition",
            self._glue.batch_create_partition,
            "PartitionInputList",
            inputs,
            CREATE_BATCH,
            ignore="AlreadyExistsException",
            failed="not registered",
        )

    def _drop_partitions(self, values: list[list[str]]) -> None:
        self._in_batches(
            "BatchDeletePartition",
            self._glue.batch_delete_partition,
            "PartitionsToDelete",
            [{"Values": v} for v in values],
            DELETE_BATCH,
            ignore="EntityNotFoundException",
            failed="not dropped",
        )

    def _in_batches(
        self,
        operation: str,
        method: Any,
        argument: str,
        items: list[dict[str, Any]],
        size: int,
        *,
        ignore: str,
        failed: str,
    ) -> None:
        """One Batch* call per `size` items; per-item errors other than `ignore` raise."""
        failures: list[str] = []
        for batch in chunks(items, size):
            response = self._call(
                operation,
                method,
                DatabaseName=self.database,
                TableName=self.table,
                **{argument: batch},
            )
            failures += _failures(response.get("Errors", []), ignore=ignore)
        if failures:
            raise CatalogError(
                f"Glue table {self.name}: {len(failures)} partitions {failed}: "
                + "; ".join(failures[:5])
            )

    # -------------------------------------------------------------------- delta

    def register_delta(self, schema: StructType, partition_by: Sequence[str]) -> None:
        """A native Delta entry: `table_type=DELTA` for Athena, `spark.sql.sources.provider
        = delta` and the SerDe's `path` for Spark; no Hive partition keys (Delta's own
        partitions live in its log)."""
        del partition_by  # recorded in the Delta log, which readers take it from
        descriptor = self._descriptor(
            schema, [f.name for f in schema.fields], self.location, path=self.location
        )
        self._ensure_table(
            {
                "Name": self.table,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {
                    "table_type": "DELTA",
                    "spark.sql.sources.provider": "delta",
                    "classification": "delta",
                    "EXTERNAL": "TRUE",
                },
                "PartitionKeys": [],
                "StorageDescriptor": descriptor,
            },
            schema,
        )

    # ------------------------------------------------------------------ helpers

    def _ensure_table(self, table_input: dict[str, Any], schema: StructType) -> None:
        """Create the database and table on first use; widen the columns when needed.

        Looks before creating, so that a job whose database and table were made by
        someone else needs no create permission.
        """
        wanted = {f.name.lower() for f in schema.fields}
        if self._columns is not None and wanted <= self._columns:
            return
        if self._columns is None:
            if self._lookup("GetDatabase", self._glue.get_database, Name=self.database) is None:
                self._create(
                    "CreateDatabase",
                    self._glue.create_database,
                    DatabaseInput={"Name": self.database},
                )
            get = {"DatabaseName": self.database, "Name": self.table}
            found = self._lookup("GetTable", self._glue.get_table, **get)
            if found is None:
                created = self._create(
                    "CreateTable",
                    self._glue.create_table,
                    DatabaseName=self.database,
                    TableInput=table_input,
                )
                if created:
                    self._columns = wanted
                    return
                found = self._call("GetTable", self._glue.get_table, **get)
            self._columns = self._registered_columns(found["Table"], table_input)
        if not wanted <= self._columns:
            self._call(
                "UpdateTable",
                self._glue.update_table,
                DatabaseName=self.database,
                TableInput=table_input,
            )
            self._columns = wanted | self._columns

    def _lookup(self, operation: str, method: Any, **kwargs: Any) -> dict[str, Any] | None:
        """The answer, or None when the entity does not exist."""
        try:
            response: dict[str, Any] = method(**kwargs)
        except self._glue.exceptions.EntityNotFoundException:
            return None
        except AWS_ERRORS as exc:
            raise self._error(operation, exc) from None
        return response

    def _create(self, operation: str, method: Any, **kwargs: Any) -> bool:
        """Whether it was created (False: another process created it meanwhile)."""
        try:
            method(**kwargs)
        except self._glue.exceptions.AlreadyExistsException:
            return False
        except AWS_ERRORS as exc:
            raise self._error(operation, exc) from None
        return True

    def _registered_columns(self, table: dict[str, Any], table_input: dict[str, Any]) -> set[str]:
        """The existing entry's columns; its partition keys must be ours."""
        keys = [str(c["Name"]).lower() for c in table.get("PartitionKeys", [])]
        ours = [c["Name"] for c in table_input["PartitionKeys"]]
        if keys != ours:
            raise CatalogError(
                f"Glue table {self.name} exists with partition keys {keys}, the job writes "
                f"{ours}: drop the entry or register the table under another name"
            )
        columns = table.get("StorageDescriptor", {}).get("Columns", [])
        return {str(c["Name"]).lower() for c in columns} | set(keys)

    def _descriptor(
        self, schema: StructType, columns: list[str], location: str, path: str | None = None
    ) -> dict[str, Any]:
        """A Parquet storage descriptor; `path` is the SerDe's (Spark's Delta reader)."""
        serde_parameters = {"serialization.format": "1"}
        if path is not None:
            serde_parameters["path"] = path
        return {
            "Columns": glue_columns(schema, columns),
            "Location": location,
            "InputFormat": _PARQUET_INPUT,
            "OutputFormat": _PARQUET_OUTPUT,
            "SerdeInfo": {"SerializationLibrary": _PARQUET_SERDE, "Parameters": serde_parameters},
        }

    def _call_pages(self, operation: str, name: str, **kwargs: Any) -> list[dict[str, Any]]:
        try:
            return list(self._glue.get_paginator(name).paginate(**kwargs))
        except AWS_ERRORS as exc:
            raise self._error(operation, exc) from None

    def _call(self, operation: str, method: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = method(**kwargs)
        except AWS_ERRORS as exc:
            raise self._error(operation, exc) from None
        return response

    def _error(self, operation: str, exc: Exception) -> CatalogError:
        """AWS's code and message, naming the table and the call."""
        return CatalogError(f"Glue table {self.name}: {operation} failed: {describe(exc)}")


def _failures(errors: Iterable[dict[str, Any]], *, ignore: str) -> list[str]:
    """`values: Code: Message` of the per-partition errors other than `ignore`."""
    failures = []
    for entry in errors:
        detail = entry.get("ErrorDetail", {})
        if detail.get("ErrorCode") == ignore:
            continue
        values = "/".join(entry.get("PartitionValues", []))
        failures.append(f"{values}: {detail.get('ErrorCode')}: {detail.get('ErrorMessage', '')}")
    return failures

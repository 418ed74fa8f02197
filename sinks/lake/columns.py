"""The lake's columns across schema changes: the table's schema after a batch, and files
read with the types they were written in, as the table's types now."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from sinks.lake.manifest import Manifest
from transforms.types import widens

__all__ = ["ColumnTypeError", "cast_to", "recorded_schema", "table_schema", "written_schema"]


class ColumnTypeError(TypeError):
    """A batch brings a column in a type that neither widens the table's nor fits in it."""


def table_schema(
    recorded: str | None, batch: StructType, name: str = "the lake table"
) -> tuple[StructType, bool]:
    """The table's columns after this batch (recorded ones first, then the batch's new
    ones) and whether the batch changed them: a column added, or a type widened
    (transforms/types.py). A column a batch lacks stays, read as NULL; one the batch
    brings narrower is written in the table's type. Any other type is refused: written as
    it comes, the table's files would disagree with its recorded type (Spark's union would
    take the common type, and a reader of the table would cast it back). `name` names the
    table in the error."""
    if recorded is None:
        return batch, False
    table = recorded_schema(recorded)
    incoming = {f.name: f for f in batch.fields}
    fields, widened = [], False
    for field in table.fields:
        new = incoming.get(field.name)
        if new is not None and new.dataType != field.dataType:
            old_type, new_type = field.dataType.simpleString(), new.dataType.simpleString()
            if widens(old_type, new_type):
                fields.append(StructField(field.name, new.dataType, True))
                widened = True
                continue
            if not widens(new_type, old_type):
                raise ColumnTypeError(
                    f"{name}: column {field.name} holds {old_type}, the batch brings "
                    f"{new_type} (not a widening): declare the column's type as the table "
                    "has it, or move the table aside and let the job recreate it"
                )
        fields.append(field)
    added = [f for f in batch.fields if f.name not in table.fieldNames()]
    return StructType([*fields, *added]), bool(added) or widened


def written_schema(
    manifest: Manifest, now: StructType, keys: Sequence[str], parts: Sequence[str]
) -> StructType:
    """The key index's columns as written (before a widening); `now` if none recorded."""
    if manifest.schema is None:
        return now
    recorded = recorded_schema(manifest.schema)
    fields = [recorded[f.name] if f.name in recorded.fieldNames() else f for f in now.fields]
    return StructType(fields)


def cast_to(df: DataFrame, schema: StructType) -> DataFrame:
    """Files read with the types they were written in, as the table's types now."""
    return df.select(
        *[
            F.col(f"`{f.name}`").cast(f.dataType).alias(f.name)
            if f.name in df.columns
            else F.lit(None).cast(f.dataType).alias(f.name)
            for f in schema.fields
        ]
    )


def recorded_schema(recorded: str) -> StructType:
    return StructType.fromJson(json.loads(recorded))

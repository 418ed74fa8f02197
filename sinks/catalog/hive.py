"""Hive names of Spark things, as the Glue Data Catalog and Athena expect them: pure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar
from urllib.parse import unquote

from pyspark.sql.types import ArrayType, DataType, MapType, StructType, TimestampNTZType

__all__ = ["chunks", "glue_columns", "glue_location", "hive_type", "partition_values"]

_S3_SCHEMES = ("s3://", "s3a://", "s3n://")
_T = TypeVar("_T")


def hive_type(data_type: DataType) -> str:
    """The Hive type name Glue and Athena expect for a Spark type.

    Spark's simple strings are Hive's (`int`, `bigint`, `decimal(10,2)`,
    `array<string>`, `struct<a:int>`), except `timestamp_ntz`, which Hive calls
    `timestamp`.
    """
    if isinstance(data_type, TimestampNTZType):
        return "timestamp"
    if isinstance(data_type, ArrayType):
        return f"array<{hive_type(data_type.elementType)}>"
    if isinstance(data_type, MapType):
        return f"map<{hive_type(data_type.keyType)},{hive_type(data_type.valueType)}>"
    if isinstance(data_type, StructType):
        fields = ",".join(f"{f.name}:{hive_type(f.dataType)}" for f in data_type.fields)
        return f"struct<{fields}>"
    return str(data_type.simpleString())


def glue_columns(schema: StructType, names: Sequence[str] | None = None) -> list[dict[str, str]]:
    """Glue `Column`s of the schema's fields (or of `names`, in that order), lower-cased."""
    fields = schema.fields if names is None else [schema[n] for n in names]
    return [{"Name": f.name.lower(), "Type": hive_type(f.dataType)} for f in fields]


def glue_location(path: str) -> str:
    """The table's location as AWS readers want it: `s3a://b/t/` -> `s3://b/t`."""
    for scheme in _S3_SCHEMES:
        if path.startswith(scheme):
            return "s3://" + path[len(scheme) :].rstrip("/")
    raise ValueError(f"{path}: a catalog location must be on S3 (s3:// or s3a://)")


def partition_values(path: str, keys: Sequence[str]) -> list[str]:
    """The values of a Hive partition path, in key order: `year=2020/day=3` -> [2020, 3].

    Values are unescaped as Spark escaped them (`%3A` -> `:`); a NULL value stays
    `__HIVE_DEFAULT_PARTITION__`, as Hive and Athena spell it.
    """
    parts = path.split("/")
    names = [p.partition("=")[0] for p in parts]
    if len(parts) != len(keys) or [unquote(n) for n in names] != list(keys):
        raise ValueError(f"partition path {path!r} does not match the partition keys {keys}")
    return [unquote(p.partition("=")[2]) for p in parts]


def chunks(items: Sequence[_T], size: int) -> Iterator[list[_T]]:
    """Consecutive slices of at most `size` items (API calls take bounded lists)."""
    if size < 1:
        raise ValueError(f"chunk size must be positive, not {size}")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])

"""Encode `sequence_by` values into one string that sorts like the tuple of values.

Each value is written at a fixed width (timestamps to the microsecond, integers
offset to be non-negative) and values are joined by a separator lower than any
printable character, so every engine compares `_seq` as a plain string (bytewise).
A change whose sequence values are all NULL gets a NULL `_seq`; see ordering.py.
"""

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ByteType,
    DataType,
    DateType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    TimestampNTZType,
    TimestampType,
)

from transforms.names import SEP, SEQ

_INTEGRAL = (ByteType, ShortType, IntegerType, LongType)
_OFFSET = 2**63


class SequenceTypeError(TypeError):
    """A sequence_by expression of a type that has no order-preserving encoding."""


def encode_value(value: Column, data_type: DataType) -> Column:
    """One sequence value as a fixed-width, order-preserving string."""
    if isinstance(data_type, TimestampType | TimestampNTZType):
        return F.date_format(value, "yyyyMMddHHmmssSSSSSS")
    if isinstance(data_type, DateType):
        return F.date_format(value, "yyyyMMdd")
    if isinstance(data_type, _INTEGRAL):
        shifted = value.cast("decimal(20,0)") + F.lit(str(_OFFSET)).cast("decimal(20,0)")
        return F.lpad(shifted.cast("string"), 20, "0")
    if isinstance(data_type, StringType):
        return value
    raise SequenceTypeError(
        f"sequence_by: type {data_type.simpleString()} cannot be ordered as a string; "
        "use a timestamp, date, integer or string expression"
    )


def encode_sequence(expressions: Sequence[str]) -> Callable[[DataFrame], DataFrame]:
    """Add `_seq` from the sequence_by expressions ('' when there are none)."""

    def transform(df: DataFrame) -> DataFrame:
        if not expressions:
            return df.withColumn(SEQ, F.lit(""))
        temp = [f"__seq{i}" for i in range(len(expressions))]
        with_values = df.select(
            "*", *[F.expr(e).alias(t) for e, t in zip(expressions, temp, strict=True)]
        )
        encoded = [encode_value(F.col(t), with_values.schema[t].dataType) for t in temp]
        any_value = F.coalesce(*[F.col(t).cast("string") for t in temp]).isNotNull()
        joined = F.concat_ws(SEP, *[F.coalesce(e, F.lit("")) for e in encoded])
        return with_values.withColumn(
            SEQ, F.when(any_value, joined).otherwise(F.lit(None).cast("string"))
        ).drop(*temp)

    return transform

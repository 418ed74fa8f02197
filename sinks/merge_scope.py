"""The conditions of a MERGE between a target aliased `t` and a source aliased `s`.

Shared by the engines that MERGE (Delta, Iceberg). Conditions that name only target
columns (a key range, partition values) are what a table format uses to skip files
before it reads any.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import reduce
from operator import and_, or_
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from transforms.types import quote

__all__ = [
    "in_partitions",
    "in_partitions_pushed",
    "quote",
    "same_keys",
    "source",
    "target",
    "within",
]


def target(name: str) -> Column:
    return F.col(f"t.{quote(name)}")


def source(name: str) -> Column:
    return F.col(f"s.{quote(name)}")


def same_keys(keys: Sequence[str]) -> Column:
    return reduce(and_, [target(k) == source(k) for k in keys])


def within(column: Column, low: Any, high: Any) -> Column:
    """Between two literal bounds: files whose min/max statistics lie outside are skipped."""
    return column.between(F.lit(low), F.lit(high))


def in_partitions(
    partitions: StructType,
    values: Sequence[Sequence[Any]],
    column: Callable[[str], Column] = target,
) -> Column:
    """The target rows of the listed partitions: one tuple of values per partition
    (`column` names the partition columns: the MERGE target's by default).

    One `struct IN (...)` whatever the number of partitions (Spark turns a long list
    into a hash-set look-up); NULL partition values match. No partition: nothing matches.
    """
    if not values:
        return F.lit(False)
    names = partitions.fieldNames()
    listed = [
        F.struct(
            *[
                F.lit(v).cast(f.dataType).alias(f.name)
                for f, v in zip(partitions.fields, row, strict=True)
            ]
        )
        for row in values
    ]
    return F.struct(*[column(n).alias(n) for n in names]).isin(*listed)


def in_partitions_pushed(
    partitions: StructType,
    values: Sequence[Sequence[Any]],
    column: Callable[[str], Column] = target,
) -> Column:
    """`in_partitions` as one conjunction of equalities per partition, OR-ed: the form
    Spark hands to a data source as filters. Iceberg skips files by such a filter, but
    not by a `struct IN`, which it never receives: with that, a MERGE read every file of
    the key range, and its cost grew with the table."""
    if not values:
        return F.lit(False)
    return _balanced(
        or_,
        [
            reduce(
                and_,
                [
                    column(f.name).isNull()
                    if v is None
                    else column(f.name) == F.lit(v).cast(f.dataType)
                    for f, v in zip(partitions.fields, row, strict=True)
                ],
            )
            for row in values
        ],
    )


def _balanced(op: Callable[[Column, Column], Column], terms: Sequence[Column]) -> Column:
    """`terms` combined by `op` as a balanced tree: a long chain would be as deep as the
    list, and Spark walks expression trees recursively."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return op(_balanced(op, terms[:middle]), _balanced(op, terms[middle:]))

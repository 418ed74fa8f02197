"""Which change of a key wins: the sink semantics every engine shares.

Two changes of one key are ordered by `(_seq, _pos)`: the sequence_by values, then
the transport position (arrival order; for DMS, commit order).

A change without a sequence value (`_seq` NULL: DMS delete rows carry only the
key) is ordered by position alone: it comes after every change of its key with a
smaller `_pos` and before every change with a larger one. Inside a batch it takes
the newest `_seq` of its key's earlier rows for the purpose of sorting; the target
keeps its `_seq` NULL, so later comparisons stay positional whichever batch
delivers the other changes.
"""

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from transforms.names import POS, SEQ

_ORDER = "__order_seq"


def latest_per_key(keys: Sequence[str]) -> Callable[[DataFrame], DataFrame]:
    """Keep exactly one change per key, the newest; never ties, `_seq` left as it was."""

    def transform(df: DataFrame) -> DataFrame:
        earlier = (
            Window.partitionBy(*keys)
            .orderBy(F.col(POS))
            .rowsBetween(Window.unboundedPreceding, Window.currentRow)
        )
        newest_first = Window.partitionBy(*keys).orderBy(
            F.col(_ORDER).desc_nulls_last(), F.col(POS).desc()
        )
        return (
            df.withColumn(_ORDER, F.coalesce(F.col(SEQ), F.max(SEQ).over(earlier)))
            .withColumn("__rank", F.row_number().over(newest_first))
            .where(F.col("__rank") == 1)
            .drop("__rank", _ORDER)
        )

    return transform


def newer_than(seq: Column, pos: Column, held_seq: Column, held_pos: Column) -> Column:
    """True when the change (seq, pos) comes after what the target holds; never NULL.

    Holding nothing: true. Either side without a sequence value: by position.
    Otherwise by sequence value, then position.
    """
    positional = seq.isNull() | held_seq.isNull()
    by_sequence = (seq > held_seq) | ((seq == held_seq) & (pos > held_pos))
    return (
        F.when(held_pos.isNull(), F.lit(True))
        .when(positional, F.coalesce(pos > held_pos, F.lit(False)))
        .otherwise(F.coalesce(by_sequence, F.lit(False)))
    )

"""Which change of a key wins: the sink semantics every engine shares.

Order of two changes of one key: `(_seq, _pos)`, compared as strings.

Changes without a sequence value (`_seq` NULL: DMS delete rows carry only the key)
are ordered right after the newest change of the same key that arrived before
them: first among earlier rows of the batch, else what the target holds for the
key. A delete of a key never seen keeps a NULL `_seq`, which sorts before any value.
"""

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from transforms.names import POS, SEQ


def fill_missing_sequence(keys: Sequence[str]) -> Callable[[DataFrame], DataFrame]:
    """Give a change without `_seq` the newest `_seq` of its key that arrived before it."""

    def transform(df: DataFrame) -> DataFrame:
        earlier = (
            Window.partitionBy(*keys)
            .orderBy(F.col(POS))
            .rowsBetween(Window.unboundedPreceding, Window.currentRow)
        )
        return df.withColumn(SEQ, F.coalesce(F.col(SEQ), F.max(SEQ).over(earlier)))

    return transform


def latest_per_key(keys: Sequence[str]) -> Callable[[DataFrame], DataFrame]:
    """Keep exactly one change per key: the greatest (_seq, _pos); never ties."""

    def transform(df: DataFrame) -> DataFrame:
        newest_first = Window.partitionBy(*keys).orderBy(
            F.col(SEQ).desc_nulls_last(), F.col(POS).desc()
        )
        return (
            df.withColumn("__rank", F.row_number().over(newest_first))
            .where(F.col("__rank") == 1)
            .drop("__rank")
        )

    return transform


def newer_than(seq: Column, pos: Column, held_seq: Column, held_pos: Column) -> Column:
    """True when (seq, pos) is after what the target holds (or it holds nothing).

    A NULL sequence sorts first, so any sequenced change beats an unsequenced tombstone.
    """
    held_nothing = held_pos.isNull()
    seq_after = (held_seq.isNull() & seq.isNotNull()) | F.coalesce(seq > held_seq, F.lit(False))
    seq_equal = seq.eqNullSafe(held_seq)
    return held_nothing | seq_after | (seq_equal & (pos > held_pos))

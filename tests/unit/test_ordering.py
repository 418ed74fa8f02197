"""Which change of a key wins: latest_per_key and newer_than."""

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from transforms.ordering import latest_per_key, newer_than

CHANGES = "k string, v string, _seq string, _pos string"


def test_unsequenced_change_after_a_sequenced_one_wins_and_keeps_null_seq(
    spark: SparkSession,
) -> None:
    changes = spark.createDataFrame(
        [
            ("k1", "update", "s5", "01"),
            ("k1", "delete", None, "02"),
            ("k2", "delete", None, "01"),
            ("k2", "reinsert", "s1", "02"),
            ("k3", "older-seq-later", "a", "02"),
            ("k3", "newer-seq-earlier", "b", "01"),
            ("k3", "delete-after-both", None, "03"),
        ],
        CHANGES,
    )

    latest = changes.transform(latest_per_key(["k"]))

    expected = spark.createDataFrame(
        [
            ("k1", "delete", None, "02"),
            ("k2", "reinsert", "s1", "02"),
            ("k3", "delete-after-both", None, "03"),
        ],
        CHANGES,
    )
    assert_df_equality(latest, expected, ignore_row_order=True, ignore_nullable=True)


def test_latest_per_key_partitions_by_every_key_column(spark: SparkSession) -> None:
    schema = "a string, b string, _seq string, _pos string"
    changes = spark.createDataFrame(
        [("x", "1", "s", "00"), ("x", "2", "t", "01"), ("x", "1", None, "02")], schema
    )

    latest = changes.transform(latest_per_key(["a", "b"]))

    expected = spark.createDataFrame([("x", "2", "t", "01"), ("x", "1", None, "02")], schema)
    assert_df_equality(latest, expected, ignore_row_order=True, ignore_nullable=True)


def test_latest_per_key_keeps_the_greatest_seq(spark: SparkSession) -> None:
    changes = spark.createDataFrame(
        [
            ("k1", "a", "a", "03"),
            ("k1", "c", "c", "01"),
            ("k1", "b", "b", "02"),
            ("k2", "z", "z", "00"),
        ],
        CHANGES,
    )

    latest = changes.transform(latest_per_key(["k"]))

    expected = spark.createDataFrame([("k1", "c", "c", "01"), ("k2", "z", "z", "00")], CHANGES)
    assert_df_equality(latest, expected, ignore_row_order=True, ignore_nullable=True)


def test_equal_seq_tie_goes_to_the_later_pos_never_to_both(spark: SparkSession) -> None:
    changes = spark.createDataFrame(
        [
            ("k1", "later", "s", "02"),
            ("k1", "earlier", "s", "01"),
            ("k2", "earlier", "s", "01"),
            ("k2", "later", "s", "10"),
            ("k2", "middle", "s", "09"),
        ],
        CHANGES,
    )

    latest = changes.transform(latest_per_key(["k"]))

    expected = spark.createDataFrame(
        [("k1", "later", "s", "02"), ("k2", "later", "s", "10")], CHANGES
    )
    assert_df_equality(latest, expected, ignore_row_order=True, ignore_nullable=True)


def test_exact_duplicates_collapse_to_one_row(spark: SparkSession) -> None:
    duplicate = ("k1", "same", "s", "01")
    changes = spark.createDataFrame([duplicate, duplicate, duplicate], CHANGES)

    latest = changes.transform(latest_per_key(["k"]))

    expected = spark.createDataFrame([duplicate], CHANGES)
    assert_df_equality(latest, expected, ignore_nullable=True)


def test_first_unsequenced_change_of_a_key_loses_to_a_later_sequenced_one(
    spark: SparkSession,
) -> None:
    changes = spark.createDataFrame(
        [
            ("k1", "unsequenced-first", None, "01"),
            ("k1", "sequenced", "", "02"),
            ("k2", "null-earlier", None, "01"),
            ("k2", "null-later", None, "02"),
        ],
        CHANGES,
    )

    latest = changes.transform(latest_per_key(["k"]))

    expected = spark.createDataFrame(
        [("k1", "sequenced", "", "02"), ("k2", "null-later", None, "02")], CHANGES
    )
    assert_df_equality(latest, expected, ignore_row_order=True, ignore_nullable=True)


# (seq, pos) of the change vs (seq, pos) of what the target holds.
Position = tuple[str | None, str | None]
NEWER_THAN_CASES = [
    pytest.param(("b", "02"), (None, None), True, id="held-nothing"),
    pytest.param((None, "02"), (None, None), True, id="held-nothing-unsequenced-change"),
    pytest.param(("b", "01"), ("a", "09"), True, id="newer-seq-wins-whatever-pos"),
    pytest.param(("a", "09"), ("b", "01"), False, id="older-seq-loses-whatever-pos"),
    pytest.param(("a", "02"), ("a", "01"), True, id="equal-seq-later-pos-wins"),
    pytest.param(("a", "01"), ("a", "02"), False, id="equal-seq-earlier-pos-loses"),
    pytest.param(("a", "01"), ("a", "01"), False, id="replay-of-held-change-loses"),
    pytest.param((None, "02"), (None, "01"), True, id="both-seq-null-later-pos-wins"),
    pytest.param((None, "01"), (None, "02"), False, id="both-seq-null-earlier-pos-loses"),
    pytest.param(("a", "03"), (None, "02"), True, id="held-unsequenced-later-pos-wins"),
    pytest.param(("z", "01"), (None, "02"), False, id="held-unsequenced-earlier-pos-loses"),
    pytest.param((None, "02"), ("a", "01"), True, id="unsequenced-later-pos-wins"),
    pytest.param((None, "01"), ("z", "02"), False, id="unsequenced-earlier-pos-loses"),
]


@pytest.mark.parametrize(("change", "held", "newer"), NEWER_THAN_CASES)
def test_newer_than_truth_table_never_null(
    spark: SparkSession, change: Position, held: Position, newer: bool
) -> None:
    row = spark.createDataFrame(
        [(*change, *held)], "seq string, pos string, held_seq string, held_pos string"
    )

    result = row.select(
        newer_than(F.col("seq"), F.col("pos"), F.col("held_seq"), F.col("held_pos")).alias("newer")
    )

    expected = spark.createDataFrame([(newer,)], "newer boolean")
    assert_df_equality(result, expected, ignore_nullable=True)

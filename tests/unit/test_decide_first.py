"""A table's first batch is decided without joins (sinks/decide.py `decide_first`)."""

from __future__ import annotations

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from sinks.decide import decide, decide_first, held, key_schema
from transforms.frames import empty_frame

CHANGES = "id int, name string, day int, _op string, _seq string, _pos string"


def test_into_a_table_that_holds_nothing_the_first_batch_decides_as_decide_does(
    spark: SparkSession,
) -> None:
    """Repeated keys (the newest wins, a sequence tie broken by position), a delete, a
    key without a sequence value and a NULL partition: the same rows, columns, types and
    acceptance as `decide` given a key table that holds nothing."""
    changes = spark.createDataFrame(
        [
            (1, "a", 1, "I", "1", "p1"),
            (1, "b", 2, "U", "2", "p2"),
            (2, "c", None, "I", "5", "p3"),
            (2, None, None, "D", "5", "p4"),
            (3, "d", 3, "I", None, "p5"),
            (4, "e", 4, "U", "9", "p7"),
            (4, "f", 1, "U", "8", "p8"),
        ],
        CHANGES,
    )
    for keys, parts in ((["id"], ["day"]), (["name"], []), (["id", "day"], ["day"])):
        nothing = empty_frame(spark, key_schema(changes.schema, keys, parts))
        expected = changes.transform(decide(keys, nothing.transform(held(keys, parts))))
        actual = changes.transform(decide_first(keys, parts))
        assert_df_equality(actual, expected, ignore_row_order=True)
        assert actual.where("__accepted").count() == actual.count()

"""A batch's decision computes its last change per key once (sinks/decide.py `decide`)."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from sinks.decide import decide, held, key_schema
from transforms.ordering import latest_per_key

CHANGES = "id int, name string, _op string, _seq string, _pos string"


def _windows(frame: DataFrame) -> int:
    """Window operators of the frame's physical plan."""
    plan = str(frame._jdf.queryExecution().executedPlan().toString())
    return sum(1 for line in plan.splitlines() if line.lstrip(" +-:").startswith("Window "))


def test_the_held_rows_are_cut_to_the_batchs_keys_without_a_second_last_change_per_key(
    spark: SparkSession,
) -> None:
    """The semi-join that cuts the key table to the batch's keys takes them from the
    changes as they came: the windows of the last change per key appear once in the
    plan (twice, they ran again in the broadcast's own Spark job), and the decision is
    the same: the held row of a key the batch does not touch is not read."""
    changes = spark.createDataFrame(
        [(1, "a", "I", "1", "p1"), (1, "b", "U", "2", "p2"), (2, "c", "I", "1", "p3")], CHANGES
    )
    schema = key_schema(changes.schema, ["id"], [])
    key_table = spark.createDataFrame(
        [(1, "3", "p0", False, None), (9, "1", "p0", False, None)], schema
    )
    decided = changes.transform(decide(["id"], key_table.transform(held(["id"], []))))

    assert _windows(decided) == _windows(changes.transform(latest_per_key(["id"]))) > 0
    rows = {r["id"]: (r["name"], r["__held_seq"], r["__accepted"]) for r in decided.collect()}
    assert rows == {1: ("b", "3", False), 2: ("c", None, True)}

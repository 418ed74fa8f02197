"""Small frame helpers: frames of local values built in the JVM (right rows and types, no
Python-worker scan), the union of many frames, and selects whose columns are built once."""

from __future__ import annotations

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from transforms.frames import (
    empty_frame,
    selects_built_once,
    text_frame,
    union_all,
    union_by_name,
)


def _plan(df: DataFrame) -> str:
    return str(df._jdf.queryExecution().executedPlan().toString())


def test_an_empty_frame_has_the_schema_asked_for_and_no_python_scan(
    spark: SparkSession,
) -> None:
    schema = StructType(
        [StructField("id", IntegerType(), False), StructField("a b", StringType(), True)]
    )
    for given in (schema, "id int not null, `a b` string"):
        df = empty_frame(spark, given)
        assert df.schema == schema
        assert df.count() == 0
        assert "ExistingRDD" not in _plan(df)
    # what it replaces: a pickled RDD that Python workers decode
    assert "ExistingRDD" in _plan(spark.createDataFrame([], schema))


def test_a_text_frame_keeps_every_row_value_and_null(spark: SparkSession) -> None:
    rows = [("y=2020/m=1", "1", "9"), ('quote " and \\', None, "ü"), ("", "", None)]
    df = text_frame(spark, rows, ["path", "lo", "hi"])
    assert df.columns == ["path", "lo", "hi"]
    assert all(f.dataType == StringType() for f in df.schema.fields)
    assert sorted(tuple(r) for r in df.collect()) == sorted(rows)
    assert "ExistingRDD" not in _plan(df)
    assert text_frame(spark, [], ["path"]).count() == 0


def test_a_union_of_many_frames_keeps_every_row_in_order_matching_columns_by_name(
    spark: SparkSession,
) -> None:
    frames = [
        text_frame(spark, [[str(i), f"v{i}"]], ["id", "v"]).select("v", "id") if i % 3 == 0
        else text_frame(spark, [[str(i), f"v{i}"]], ["id", "v"])
        for i in range(11)
    ]  # fmt: skip
    united = union_by_name(frames)
    assert united.columns == ["v", "id"]  # the first frame's order
    assert [(r["id"], r["v"]) for r in united.collect()] == [(str(i), f"v{i}") for i in range(11)]
    assert union_by_name(frames[:1]).collect() == frames[0].collect()
    with pytest.raises(ValueError, match="no frame"):
        union_by_name([])


def test_a_union_by_position_keeps_every_row_in_order_and_matches_columns_by_place(
    spark: SparkSession,
) -> None:
    frames = [text_frame(spark, [[str(i), f"v{i}"]], ["id", "v"]) for i in range(7)]
    frames[3] = frames[3].select(F.col("v").alias("id"), F.col("id").alias("v"))
    united = union_all(frames)
    assert united.columns == ["id", "v"]
    rows = [(r["id"], r["v"]) for r in united.collect()]
    assert rows == [(f"v{i}", str(i)) if i == 3 else (str(i), f"v{i}") for i in range(7)]
    with pytest.raises(ValueError, match="no frame"):
        union_all([])


def test_selects_are_built_at_the_first_frame_and_applied_to_each_frame_in_order(
    spark: SparkSession,
) -> None:
    builds: list[int] = []

    def stages() -> list[list[Column]]:
        builds.append(1)
        return [[(F.col("id") * 10).alias("tens")], [(F.col("tens") + 1).alias("v")]]

    transform = selects_built_once(stages)
    first = [r.v for r in spark.range(2).transform(transform).collect()]
    second = [r.v for r in spark.range(3, 5).transform(transform).collect()]

    assert (first, second) == ([1, 11], [31, 41])
    assert builds == [1]

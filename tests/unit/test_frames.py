"""Frames of local values built in the JVM: right rows and types, no Python-worker scan."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from transforms.frames import empty_frame, text_frame


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

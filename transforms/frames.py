"""DataFrames of a few local values, built inside the JVM.

`spark.createDataFrame(python_rows)` makes a pickled RDD: reading it starts Python worker
processes to unpickle the rows (a second or more on a small machine), in every batch that
reads one, even an empty one. These frames carry their values in the plan instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

__all__ = ["empty_frame", "text_frame"]


def empty_frame(spark: SparkSession, schema: StructType | str) -> DataFrame:
    """No rows, of `schema` (a StructType or a DDL string such as `a int, b string`)."""
    jspark: Any = spark._jsparkSession
    jvm: Any = spark.sparkContext._jvm
    if isinstance(schema, str):
        jschema = jvm.org.apache.spark.sql.types.StructType.fromDDL(schema)
    else:
        jschema = jspark.parseDataType(schema.json())
    return DataFrame(jspark.createDataFrame(jvm.java.util.ArrayList(), jschema), spark)


def text_frame(
    spark: SparkSession, rows: Sequence[Sequence[str | None]], names: Sequence[str]
) -> DataFrame:
    """`rows` as string columns `names`: one JSON literal, exploded. Not for secrets: the
    values are in the plan's text."""
    fields = ", ".join(f"`{n}`: string" for n in names)
    text = json.dumps([dict(zip(names, row, strict=True)) for row in rows])
    return spark.range(1).select(F.inline(F.from_json(F.lit(text), f"array<struct<{fields}>>")))

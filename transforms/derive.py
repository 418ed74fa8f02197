"""Derived columns: Spark SQL expressions from the config, applied in order."""

from collections.abc import Callable, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from config import DerivedColumn


def add_derived(derived: Sequence[DerivedColumn]) -> Callable[[DataFrame], DataFrame]:
    """Add (or replace) one column per expression; later ones may use earlier ones."""

    def transform(df: DataFrame) -> DataFrame:
        for column in derived:
            df = df.withColumn(column.name, F.expr(column.expr))
        return df

    return transform

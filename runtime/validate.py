"""Check a table's SQL expressions against its declared schema before any data flows.

Expressions can only be parsed by Spark, so this runs right after the session starts
and before any query (and for a table discovered while the job runs, before its first
batch): a bad expression fails at once, naming its config key.
"""

from __future__ import annotations

from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config import TableConfig
from config.load import ConfigError
from transforms.frames import empty_frame
from transforms.names import COMMIT_TS, OP, POS
from transforms.sequence import SequenceTypeError, encode_sequence


def check_expressions(spark: SparkSession, where: str, table: TableConfig) -> None:
    """`where` is the table's config key (`tables.2`), for the messages. A table with
    nothing to check (no derived columns, commit time, sequence or partition columns:
    the common case of a discovered table) asks nothing of Spark: a database's hundreds
    of tables would each pay for an analysis at start."""
    if not (table.derived or table.commit_ts or table.sequence_by or table.partition_by):
        return
    ddl = ", ".join(f"`{c.name}` {c.type}" for c in table.columns or [])
    # An empty frame built in the JVM: `createDataFrame` from Python paid about 0.5 s for
    # its first call (pandas imported, an empty collection sent to the JVM).
    df: DataFrame = empty_frame(spark, ddl).select(
        "*",
        F.lit("I").alias(OP),
        F.lit("").alias(POS),
        F.lit(None).cast("timestamp").alias(COMMIT_TS),
    )
    for i, derived in enumerate(table.derived):
        df = _attempt(
            lambda d=df, c=derived: d.withColumn(c.name, F.expr(c.expr)),
            f"{where}.derived.{i} ({derived.name})",
        )
    if table.commit_ts:
        _attempt(lambda: df.select(F.expr(table.commit_ts or "")), f"{where}.commit_ts")
    try:
        _attempt(lambda: df.transform(encode_sequence(table.sequence_by)), f"{where}.sequence_by")
    except SequenceTypeError as exc:
        raise ConfigError(f"{where}.{exc}") from None
    for column in table.partition_by:
        type_name = df.schema[column].dataType.simpleString()
        if type_name.startswith(("array", "map", "struct", "binary")):
            raise ConfigError(f"{where}.partition_by: {column} has type {type_name}")


def _attempt(build: object, key: str) -> DataFrame:
    try:
        result: DataFrame = build()  # type: ignore[operator]
        result.schema  # noqa: B018 - forces analysis
        return result
    except (AnalysisException, ParseException) as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise ConfigError(f"{key}: {first_line}") from None

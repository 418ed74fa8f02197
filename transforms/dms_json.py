"""Decode DMS Kinesis-format JSON records into string records.

One record: {"data": {...}, "metadata": {"timestamp", "record-type",
"operation", "schema-name", "table-name", "transaction-id", ...}}.
Control and DDL records and records of other tables are marked to be skipped.
"""

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.names import (
    COMMIT_TS,
    ERROR,
    FILE,
    OP,
    OP_CONTROL,
    OP_LOAD,
    OP_OTHER_TABLE,
    POS,
    RAW,
    SOURCE_FILE,
)
from transforms.position import file_position

_CORRUPT = "__corrupt"
_OPERATIONS = {"load": OP_LOAD, "insert": "I", "update": "U", "delete": "D"}


def decode_dms_json(
    columns: Sequence[str], *, schema_name: str, table_name: str
) -> Callable[[DataFrame], DataFrame]:
    """Text lines (`value`, `_file`, `_block`) -> `_op` + one string column per field."""
    data = ", ".join(f"`{name}`: string" for name in columns)
    schema = (
        f"data struct<{data}>, "
        "metadata struct<timestamp: string, `record-type`: string, operation: string, "
        "`schema-name`: string, `table-name`: string, `transaction-id`: string>, "
        f"{_CORRUPT} string"
    )
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}

    def transform(df: DataFrame) -> DataFrame:
        parsed = df.select(
            F.col("value").alias(RAW),
            F.col(FILE).alias(SOURCE_FILE),
            file_position().alias(POS),
            F.from_json(F.col("value"), schema, options).alias("r"),
        )
        meta = F.col("r.metadata")
        record_type = F.lower(meta["record-type"])
        ours = (meta["schema-name"] == schema_name) & (meta["table-name"] == table_name)
        op = (
            F.when(record_type.isin("control", "ddl"), F.lit(OP_CONTROL))
            .when(~ours, F.lit(OP_OTHER_TABLE))
            .otherwise(_operation(F.lower(meta["operation"])))
        )
        error = (
            F.when(F.length(F.trim(F.col(RAW))) == 0, F.lit("empty record"))
            .when(F.col(f"r.{_CORRUPT}").isNotNull(), F.lit("malformed JSON record"))
            .when(F.col("r.metadata").isNull(), F.lit("DMS record without metadata"))
            .when(
                (record_type == "data") & F.col("r.data").isNull() & ours,
                F.lit("DMS data record without data"),
            )
        )
        return parsed.select(
            op.alias(OP),
            *[F.col(f"r.data.`{name}`").alias(name) for name in columns],
            F.to_timestamp(meta["timestamp"]).alias(COMMIT_TS),
            POS,
            RAW,
            SOURCE_FILE,
            error.alias(ERROR),
        )

    return transform


def _operation(operation: Column) -> Column:
    mapped: Column = F.lit(None).cast("string")
    for name, op in _OPERATIONS.items():
        mapped = F.when(operation == name, F.lit(op)).otherwise(mapped)
    return F.coalesce(mapped, operation)

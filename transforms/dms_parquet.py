"""Decode DMS S3-target Parquet rows (already typed) into records."""

from collections.abc import Callable, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.names import COMMIT_TS, ERROR, FILE, OP, OP_LOAD, POS, RAW, SOURCE_FILE
from transforms.position import file_position, is_full_load


def decode_dms_parquet(
    columns: Sequence[str], *, op_column: str = "Op", commit_column: str | None = None
) -> Callable[[DataFrame], DataFrame]:
    """Rows with an optional `Op` column -> `_op` + the table's columns.

    Full-load files carry no Op: their rows are loads (upserts). `commit_column` is DMS's
    `TimestampColumnName` column (text, `yyyy-MM-dd HH:mm:ss.SSSSSS`): the commit time.
    Rows the reader could not give in the table's types come with `_error` (why) and
    `_raw` (the row as the file stores it), sources/parquet_read.py; both are kept.
    """
    committed = F.lit(None).cast("timestamp")
    if commit_column is not None:
        committed = F.col(f"`{commit_column}`").cast("timestamp")

    def transform(df: DataFrame) -> DataFrame:
        op = F.when(is_full_load(F.col(FILE)) & F.col(op_column).isNull(), F.lit(OP_LOAD))
        raw = F.to_json(F.struct(op_column, *columns))
        error = F.lit(None).cast("string")
        if RAW in df.columns:
            raw, error = F.coalesce(F.col(RAW), raw), F.col(ERROR)
        return df.select(
            op.otherwise(F.col(op_column)).alias(OP),
            *[F.col(f"`{name}`") for name in columns],
            committed.alias(COMMIT_TS),
            file_position().alias(POS),
            raw.alias(RAW),
            F.col(FILE).alias(SOURCE_FILE),
            error.alias(ERROR),
        )

    return transform

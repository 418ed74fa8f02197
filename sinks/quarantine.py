"""Records that cannot be applied, kept whole with the reason; the stream goes on.

The quarantine holds raw source records (possibly personal data): protect it like
the source. One folder per table and batch, overwritten when a batch is replayed,
so a replay never duplicates entries.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.names import ERROR, RAW, SOURCE_FILE


def write_quarantine(rejected: DataFrame, root: str, table: str, batch_id: int) -> None:
    (
        rejected.select(
            F.lit(table).alias("table"),
            F.lit(batch_id).cast("long").alias("batch_id"),
            F.col(ERROR).alias("reason"),
            F.col(SOURCE_FILE).alias("source_file"),
            F.col(RAW).alias("raw_record"),
            F.current_timestamp().alias("quarantined_at"),
        )
        .coalesce(1)
        .write.mode("overwrite")
        .json(f"{root.rstrip('/')}/{table}/batch_id={batch_id}")
    )

"""Load the classes the tests' JVMs load, so scripts/jvm_archive.sh can archive them.

Run by that script through spark-submit.sh with `-XX:ArchiveClassesAtExit`; a small
version of what the job and the tests do: a session with Delta, a streaming query over
a landing folder into `foreachBatch`, a Delta MERGE, a partitioned Parquet write, reads
of JSON, CSV and Parquet. Nothing it writes outlives it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime.session import spark_session


def main() -> int:
    spark = spark_session("jvm-warmup")
    with tempfile.TemporaryDirectory(prefix="jvm-warmup-") as tmp:
        root = Path(tmp)
        landing = root / "landing"
        landing.mkdir()
        (landing / "a.json").write_text(
            "\n".join(
                f'{{"id": {i}, "day": {i % 3}, "ts": "2024-01-0{1 + i % 3}"}}' for i in range(9)
            )
        )
        (root / "b.csv").write_text("I,1,x\nU,2,y\n")
        spark.read.csv(str(root / "b.csv")).count()
        delta = str(root / "delta")

        def batch(df: DataFrame, batch_id: int) -> None:
            rows = df.withColumn("ts", F.to_timestamp("ts")).dropDuplicates(["id"])
            rows.write.mode("append").partitionBy("day").parquet(str(root / "lake"))
            if not DeltaTable.isDeltaTable(spark, delta):
                rows.write.format("delta").partitionBy("day").save(delta)
            (
                DeltaTable.forPath(spark, delta)
                .alias("t")
                .merge(rows.alias("s"), "t.id = s.id")
                .whenMatchedUpdateAll()
                .whenNotMatchedInsertAll()
                .execute()
            )

        query = (
            spark.readStream.schema("id long, day int, ts string")
            .json(str(landing))
            .writeStream.foreachBatch(batch)
            .option("checkpointLocation", str(root / "checkpoint"))
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination(600)
        spark.read.parquet(str(root / "lake")).groupBy("day").count().collect()
        spark.read.format("delta").load(delta).where("id > 3").count()
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The SparkSession settings the job relies on, whatever launched it."""

from pyspark.sql import SparkSession

SETTINGS = {
    # Business timestamps come in many formats; never fail on the legacy-parser check.
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.sql.session.timeZone": "UTC",
    # Partition overwrites are done by the lake engine, never by Spark's discovery.
    "spark.sql.sources.partitionOverwriteMode": "static",
}


def spark_session(app_name: str) -> SparkSession:
    """Get the session spark-submit (or Glue) created, with our settings applied."""
    builder = SparkSession.builder.appName(app_name).config("spark.ui.showConsoleProgress", "false")
    if "spark.master" not in SparkSession.builder._options:  # plain `python` runs
        builder = builder.master("local[2]")
    spark = builder.getOrCreate()
    for key, value in SETTINGS.items():
        spark.conf.set(key, value)
    if spark.conf.get("spark.sql.shuffle.partitions") == "200":
        cores = spark.sparkContext.defaultParallelism
        spark.conf.set("spark.sql.shuffle.partitions", str(max(4, cores * 4)))
    return spark

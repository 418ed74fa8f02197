"""The SparkSession settings the job relies on, whatever launched it."""

import os

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

SETTINGS = {
    # Business timestamps come in many formats; never fail on the legacy-parser check.
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.sql.session.timeZone": "UTC",
    # Partition overwrites are done by the lake engine, never by Spark's discovery.
    "spark.sql.sources.partitionOverwriteMode": "static",
}

# Delta's SQL extension and catalog (MERGE, time travel); static: set before the session starts.
DELTA_SQL = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def spark_session(app_name: str) -> SparkSession:
    """Get the session spark-submit (or Glue) created, with our settings applied."""
    builder = SparkSession.builder.appName(app_name).config("spark.ui.showConsoleProgress", "false")
    for key, value in _launch_settings().items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    for key, value in SETTINGS.items():
        spark.conf.set(key, value)
    if spark.conf.get("spark.sql.shuffle.partitions") == "200":
        cores = spark.sparkContext.defaultParallelism
        spark.conf.set("spark.sql.shuffle.partitions", str(max(4, cores * 4)))
    return spark


def _launch_settings() -> dict[str, str]:
    """What spark-submit.sh would pass, minus what the launcher already set (which wins).

    Under spark-submit the JVM is running and its `--conf` values are system properties
    that SparkConf reads. A plain `python` run has none: it gets the master, and Delta
    with the pinned jars when scripts/env.sh exported them (STREAM_CDC_JARS).
    """
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # plain `python`: no JVM yet
        jars = os.environ.get("STREAM_CDC_JARS")
        delta = {"spark.jars": jars, **DELTA_SQL} if jars else {}
        return {"spark.master": "local[2]", **delta}
    SparkContext._ensure_initialized()  # connects to spark-submit's JVM
    launched = SparkConf()
    wanted = {"spark.master": "local[2]", **DELTA_SQL}
    return {key: value for key, value in wanted.items() if not launched.contains(key)}

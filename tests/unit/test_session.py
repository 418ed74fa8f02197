"""The session settings the job applies to whatever session it is given."""

from __future__ import annotations

from pyspark.sql import SparkSession

from runtime.session import apply_settings

_LISTING = "spark.sql.sources.parallelPartitionDiscovery.threshold"


def test_local_mode_lists_many_paths_on_the_driver_unless_told_otherwise(
    spark: SparkSession,
) -> None:
    assert (spark.sparkContext.master or "").startswith("local")
    saved = str(spark.conf.get(_LISTING))
    try:
        spark.conf.set(_LISTING, "32")  # Spark's default
        apply_settings(spark)
        assert int(str(spark.conf.get(_LISTING))) >= 10_000
        spark.conf.set(_LISTING, "64")  # the user's choice
        apply_settings(spark)
        assert spark.conf.get(_LISTING) == "64"
    finally:
        spark.conf.set(_LISTING, saved)

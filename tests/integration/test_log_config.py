"""The JVM's log configuration (conf/log4j2.properties) keeps the job's log quiet
without hiding the warnings that say something went wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[2] / "conf" / "log4j2.properties"

_SCRIPT = """
import sys
from pyspark.sql import SparkSession
spark = (
    SparkSession.builder.master("local[1]")
    .config("spark.ui.enabled", "false")
    .config("spark.driver.extraJavaOptions", "-Dlog4j2.configurationFile=" + sys.argv[1])
    .getOrCreate()
)
log = spark.sparkContext._jvm.org.apache.logging.log4j.LogManager.getLogger(
    "org.apache.spark.storage.BlockManager"
)
log.warn("Block rdd_193_1 already exists on this machine; not re-adding it")
log.warn("Putting block rdd_7_0 failed due to exception boom.")
spark.stop()
"""


def test_a_cached_block_stored_twice_is_not_logged_but_a_failed_put_is() -> None:
    run = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(CONFIG)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "Putting block rdd_7_0 failed" in run.stderr
    assert "already exists on this machine" not in run.stderr

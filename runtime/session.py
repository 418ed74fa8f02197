"""The SparkSession settings the job relies on, whatever launched it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from py4j.java_gateway import java_import
from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from aws import s3a_settings
from config import AwsConfig

SETTINGS = {
    # Business timestamps come in many formats; never fail on the legacy-parser check.
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.sql.session.timeZone": "UTC",
    # Partition overwrites are done by the lake engine, never by Spark's discovery.
    "spark.sql.sources.partitionOverwriteMode": "static",
    # Every query of a batch planned as Spark plans the stream's own micro-batches:
    # without adaptive execution, which submits each shuffle stage as a Spark job of its
    # own (a lake batch ran 20 jobs instead of 10, Delta's 40 instead of 21, in the same
    # time) and re-plans after it. A batch sizes its shuffles itself (runtime/batch.py).
    "spark.sql.adaptive.enabled": "false",
}

# Spark compiles the code of each query's steps and keeps the compiled classes, 100 by
# default. A batch compiles several for each table it touches, so beyond a few dozen
# tables every batch compiled its tables' code again. Static: set before the session starts.
COMPILED_CODE = {"spark.sql.codegen.cache.maxEntries": "2000"}

# HotSpot never compiles a method longer than 8,000 bytes of bytecode to machine code
# (`HugeMethodLimit`): it runs in the JVM's interpreter. Spark compiles some query steps
# into such methods, Debezium's decoding among them (the parse, the envelope's branches,
# the errors and the binlog position in one method): this option has the JIT compile
# them too (500,000 messages decoded and typed in 5.7 s instead of 10.3 s,
# docs/benchmarks.md). A JVM option: given to the driver (and executors) when they start,
# by spark-submit.sh and `local_session`. Spark's `spark.sql.codegen.hugeMethodLimit`
# would split such steps instead, but made Delta's batches 9% slower.
JVM_OPTIONS = "-XX:-DontCompileHugeMethods"

# Delta's and Iceberg's SQL extensions (MERGE, time travel, Iceberg's CALL procedures) and
# Delta's catalog; static: set before the session starts. Iceberg's catalog is named by the
# target and added at run time (sinks/iceberg/catalog.py). Spark skips, with a warning, an
# extension whose jar is absent (Glue without its Iceberg format), so Delta is unaffected.
DELTA_SQL = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension,"
    "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

# Hadoop's local file system forks a `chmod` process for every file, checksum file and
# folder it creates (Spark ships no Hadoop native library); a write of 200 small
# partitions spends most of its time there. Local runs use the same file system with
# permissions set in-process (jvm/, compiled by scripts/bootstrap.sh). It must be on the
# driver's class path when the JVM starts: the first `file:` file system is cached.
LOCAL_FS = {
    "spark.hadoop.fs.file.impl": "streamcdc.localfs.NioLocalFileSystem",
    "spark.hadoop.fs.AbstractFileSystem.file.impl": "streamcdc.localfs.NioLocalFs",
}


def local_fs_settings(master: str, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The launch settings that give a `local`/`local[N]` driver the in-process local file
    system, when scripts/env.sh found its jar (STREAM_CDC_LOCAL_FS_JAR) and
    STREAM_CDC_LOCAL_FS is not `0`. Nothing for a cluster, whose executors lack the jar,
    nor for `local-cluster`, whose executors are other JVMs."""
    jar = environ.get("STREAM_CDC_LOCAL_FS_JAR", "")
    local = master == "local" or master.startswith("local[")
    if not jar or not local or environ.get("STREAM_CDC_LOCAL_FS", "1") == "0":
        return {}
    return {"spark.driver.extraClassPath": jar, **LOCAL_FS}


def spark_session(app_name: str, aws: AwsConfig | None = None) -> SparkSession:
    """Get the session spark-submit (or Glue) created, with our settings applied.

    With `aws`, S3 paths work too (see `configure_s3`).
    """
    builder = SparkSession.builder.appName(app_name).config("spark.ui.showConsoleProgress", "false")
    for key, value in _launch_settings().items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    apply_settings(spark)
    if aws is not None:
        configure_s3(spark, aws)
    return spark


# The JVM classes pyspark names in nearly every call that builds a query (`F.col`,
# `F.when`, a select's column list). pyspark imports their packages with wildcards, and
# py4j resolves such a name by trying each package in turn: a failed class lookup per
# package before the right one, each time. Imported by their full names they are found
# at once: `F.col` cost about 300 us, and 110-150 us after (2,000 calls, one-off).
_NAMED_CLASSES = (
    "org.apache.spark.sql.functions",
    "org.apache.spark.api.python.PythonUtils",
    "org.apache.spark.sql.api.python.PythonSQLUtils",
    "org.apache.spark.sql.SparkSession",
)


def apply_settings(spark: SparkSession) -> None:
    """The job's SQL settings, and partition counts sized to the cluster's cores where
    Spark's defaults assume a big one (they only cost task overhead on a small one)."""
    jvm = spark.sparkContext._jvm
    for name in _NAMED_CLASSES:
        java_import(jvm, name)
    for key, value in SETTINGS.items():
        spark.conf.set(key, value)
    cores = spark.sparkContext.defaultParallelism
    if spark.conf.get("spark.sql.shuffle.partitions") == "200":  # Spark's default
        spark.conf.set("spark.sql.shuffle.partitions", str(max(4, cores * 4)))
    # Delta rebuilds a table's state from its log in 50 tasks by default.
    if spark.conf.get(_DELTA_SNAPSHOT_PARTITIONS, None) is None:
        spark.conf.set(_DELTA_SNAPSHOT_PARTITIONS, str(max(2, min(50, cores * 2))))
    # Reading more than 32 paths (a batch's partitions, their files) makes Spark list them
    # in a Spark job of its own. In local mode the "executors" are the driver's threads, so
    # the job only adds its fixed cost: the driver lists them itself (measured on 200
    # files: 3.1 s -> 1.0 s). On a cluster the default stays (many S3 listings spread).
    local = (spark.sparkContext.master or "").startswith("local")
    if local and spark.conf.get(_LISTING_THRESHOLD) == "32":  # Spark's default
        spark.conf.set(_LISTING_THRESHOLD, str(_LOCAL_LISTING_THRESHOLD))


_DRIVER_JAVA_OPTIONS = "spark.driver.extraJavaOptions"
_DELTA_SNAPSHOT_PARTITIONS = "spark.databricks.delta.snapshotPartitions"
_LISTING_THRESHOLD = "spark.sql.sources.parallelPartitionDiscovery.threshold"
_LOCAL_LISTING_THRESHOLD = 100_000


def local_session(
    app_name: str,
    *,
    driver_memory: str = "2g",
    shuffle_partitions: int = 4,
    extra: dict[str, str] | None = None,
) -> SparkSession:
    """A `local[2]` session for tests and benchmarks: the job's settings, no UI, quiet, and
    Delta with the pinned jars when scripts/env.sh exported them (STREAM_CDC_JARS)."""
    builder = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
    )
    jars = os.environ.get("STREAM_CDC_JARS")
    extensions = {"spark.jars": jars, **DELTA_SQL} if jars else {}
    local_fs = local_fs_settings("local[2]")
    settings = {**extensions, **local_fs, **COMPILED_CODE, **SETTINGS, **(extra or {})}
    given = settings.get(_DRIVER_JAVA_OPTIONS)
    settings[_DRIVER_JAVA_OPTIONS] = f"{JVM_OPTIONS} {given}" if given else JVM_OPTIONS
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    apply_settings(spark)
    return spark


def configure_s3(spark: SparkSession, aws: AwsConfig) -> None:
    """Apply the S3A settings of `aws` to the running session's Hadoop configuration.

    Set at runtime rather than as `spark.hadoop.*` launch settings, so the same call works
    whoever made the session: spark-submit, plain python, or Glue's GlueContext (whose
    context exists before the job's code runs). Spark hands the driver's Hadoop
    configuration to every file read and write, so executors see the settings too; they
    must be set before the first S3 path is touched (file systems are cached).

    Glue and EMR configure `fs.s3.impl` themselves (EMRFS) in the Hadoop configuration
    the context starts with; plain Hadoop has no `s3://` file system at all. So an
    existing `fs.s3.impl` means "managed S3 here": it is kept, and only `s3a://` gets
    the settings. Credentials are not set here: S3A's default chain reads the
    environment (AWS_ACCESS_KEY_ID, ...), the instance or task role.
    """
    hadoop: Any = spark.sparkContext._jsc.hadoopConfiguration()
    managed_s3 = hadoop.get("fs.s3.impl") is not None
    for key, value in s3a_settings(aws).items():
        name = key.removeprefix("spark.hadoop.")
        if name == "fs.s3.impl" and managed_s3:
            continue
        hadoop.set(name, value)


def _launch_settings() -> dict[str, str]:
    """What spark-submit.sh would pass, minus what the launcher already set (which wins).

    Under spark-submit the JVM is running and its `--conf` values are system properties
    that SparkConf reads. A plain `python` run has none: it gets the master, and Delta
    with the pinned jars when scripts/env.sh exported them (STREAM_CDC_JARS).
    """
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # plain `python`: no JVM yet
        jars = os.environ.get("STREAM_CDC_JARS")
        delta = {"spark.jars": jars, **DELTA_SQL} if jars else {}
        local = {"spark.master": "local[2]", **local_fs_settings("local[2]")}
        return {**local, **delta, **COMPILED_CODE}
    SparkContext._ensure_initialized()  # connects to spark-submit's JVM
    launched = SparkConf()
    wanted = {"spark.master": "local[2]", **DELTA_SQL, **COMPILED_CODE}
    return {key: value for key, value in wanted.items() if not launched.contains(key)}

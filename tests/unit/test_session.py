"""The session settings the job applies to whatever session it is given."""

from __future__ import annotations

from pyspark.sql import SparkSession

from runtime.session import COMPILED_CODE, JVM_OPTIONS, _launch_settings, apply_settings
from transforms.debezium_json import decode_debezium_json

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


def test_the_code_spark_compiled_for_many_tables_queries_is_compiled_once(
    spark: SparkSession,
) -> None:
    """A batch compiles several classes a table it touches; Spark keeps 100 by default, so
    a stream of more than a few dozen tables compiled its tables' code again each batch."""
    assert COMPILED_CODE["spark.sql.codegen.cache.maxEntries"] in _launch_settings().values()
    metrics = spark.sparkContext._jvm.org.apache.spark.metrics.source.CodegenMetrics  # type: ignore[union-attr]
    compiled = metrics.METRIC_COMPILATION_TIME()

    def queries() -> None:  # 150 queries, each its own code (its literals are in it)
        for i in range(150):
            spark.range(2).selectExpr(f"id * {i + 7_000_000} + {i} AS v").collect()

    generated = {
        "spark.sql.codegen.wholeStage": "true",
        "spark.sql.codegen.factoryMode": "FALLBACK",
    }
    saved = {key: str(spark.conf.get(key)) for key in generated}  # the tests' session: none
    try:
        for key, wanted in generated.items():
            spark.conf.set(key, wanted)
        queries()
        before = compiled.getCount()
        queries()
        assert compiled.getCount() == before
    finally:
        for key, value in saved.items():
            spark.conf.set(key, value)


def test_the_long_methods_spark_generates_are_compiled_by_hotspot(spark: SparkSession) -> None:
    """HotSpot leaves a method of more than 8,000 bytes of bytecode to its interpreter
    unless told otherwise, and Spark compiles Debezium's decoding (four columns already)
    into one: the sessions start their JVM with the option (docs/benchmarks.md: 10.3 s ->
    5.7 s for 500,000 messages)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    arguments = jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
    assert JVM_OPTIONS in [str(a) for a in arguments]
    message = (
        '{"before":null,"after":{"id":1},"op":"c","source":{"db":"d","table":"t",'
        '"file":"mysql-bin.1","pos":"4","row":"0","ts_ms":"1"}}'
    )
    rows = spark.createDataFrame(
        [(message, '{"id":1}', "t", 0, 1)],
        "value string, key string, topic string, partition int, offset long",
    )
    generated = {  # as the job runs; the tests' session compiles nothing
        "spark.sql.codegen.wholeStage": "true",
        "spark.sql.codegen.factoryMode": "FALLBACK",
    }
    saved = {key: str(spark.conf.get(key)) for key in generated}
    try:
        for key, wanted in generated.items():
            spark.conf.set(key, wanted)
        decoded = rows.transform(
            decode_debezium_json(["id", "a", "b", "c"], database="d", table="t")
        )
        steps = decoded._jdf.queryExecution().debug().codegenToSeq()
        sizes = [steps.apply(i)._3().maxMethodCodeSize() for i in range(steps.size())]
        assert max(sizes) > 8000  # HotSpot's HugeMethodLimit
        assert decoded.select("id", "_op", "_error").collect() == [("1", "I", None)]
    finally:
        for key, value in saved.items():
            spark.conf.set(key, value)

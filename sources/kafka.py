"""Debezium change events from Kafka, with their exact transport position."""

import re

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config.models import KafkaSource, TableConfig


def kafka_topic(source: KafkaSource, table: TableConfig) -> str:
    """Debezium names a table's topic <topic.prefix>.<database>.<table>."""
    return f"{source.topic_prefix}.{table.source_schema}.{table.source_name}"


def read_kafka(spark: SparkSession, source: KafkaSource, table: TableConfig) -> DataFrame:
    """One row per message: key and value as text (NULL value = tombstone), and position."""
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", source.bootstrap_servers)
        # A pattern, not `subscribe`: the job may start before Debezium creates the topic.
        # Anchored: Kafka matches patterns anywhere in a name (ticket would take ticket_activity).
        .option("subscribePattern", f"^{re.escape(kafka_topic(source, table))}$")
        .option("kafka.metadata.max.age.ms", "5000")
        # A topic being created has no leader for a moment: retry, do not fail.
        .option("fetchOffset.numRetries", "30")
        .option("fetchOffset.retryIntervalMs", "1000")
        .option("startingOffsets", source.starting_offsets)
        # Losing offsets (retention, topic re-created) must stop the job, never skip data.
        .option("failOnDataLoss", "true")
    )
    if source.starting_timestamp is not None:  # Spark: takes precedence over startingOffsets
        millis = int(source.starting_timestamp.timestamp() * 1000)
        reader = reader.option("startingTimestamp", str(millis))
    if source.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", source.max_offsets_per_trigger)
    for key, value in source.options.items():
        reader = reader.option(key, value)
    return reader.load().select(
        F.col("key").cast("string").alias("key"),
        F.col("value").cast("string").alias("value"),
        "topic",
        "partition",
        "offset",
    )

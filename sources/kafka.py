"""Debezium change events from Kafka, with their exact transport position."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config import KafkaSource, TableConfig

__all__ = [
    "end_offsets",
    "kafka_options",
    "kafka_topic",
    "quiet_partitions",
    "read_kafka",
    "topic_pattern",
]

# Consumer settings of the driver's offset look-up: a bounded wait, never a hang.
_LOOKUP_TIMEOUT_MS = "15000"


def kafka_topic(source: KafkaSource, table: TableConfig) -> str:
    """Debezium names a table's topic <topic.prefix>.<database>.<table>."""
    return f"{source.topic_prefix}.{table.source_schema}.{table.source_name}"


def topic_pattern(
    source: KafkaSource, tables: Sequence[TableConfig], include: Sequence[str]
) -> str:
    """The topics of a source: those of the named tables and of the `schema.table` globs.

    A pattern, not a list: the job may start before Debezium creates a topic, and a table
    created later is picked up (Spark re-reads the topic list every few seconds). Anchored:
    Kafka matches patterns anywhere in a name (ticket would take ticket_activity).
    """
    prefix = re.escape(source.topic_prefix) + r"\."
    names = [re.escape(f"{t.source_schema}.{t.source_name}") for t in tables]
    globs = [_glob(p) for p in include]
    return f"^{prefix}(?:{'|'.join([*names, *globs])})$"


def _glob(pattern: str) -> str:
    """A `schema.table` glob as a regular expression over `<database>.<table>`."""
    parts = []
    for char in pattern:
        parts.append({"*": "[^.]*", "?": "[^.]"}.get(char, re.escape(char)))
    return "".join(parts)


def kafka_options(source: KafkaSource, pattern: str) -> dict[str, str]:
    """The options of Spark's Kafka source that read the topics matching `pattern`."""
    options = {
        "kafka.bootstrap.servers": source.bootstrap_servers,
        "subscribePattern": pattern,
        # Topics created after the start (new tables) are found within seconds.
        "kafka.metadata.max.age.ms": "5000",
        # A batch's task reads offsets that exist; a fetch the consumer left in flight at
        # the end of the previous batch's range must not hold it for Kafka's default 500 ms
        # (a quarter of a small batch's time at 1,000 changes/s: docs/sources.md).
        "kafka.fetch.max.wait.ms": "20",
        # A topic being created has no leader for a moment: retry, do not fail.
        "fetchOffset.numRetries": "30",
        "fetchOffset.retryIntervalMs": "1000",
        "startingOffsets": source.starting_offsets,
        # Losing offsets (retention, topic re-created) must stop the job, never skip data.
        "failOnDataLoss": "true",
    }
    if source.starting_timestamp is not None:  # Spark: takes precedence over startingOffsets
        millis = int(source.starting_timestamp.timestamp() * 1000)
        # A partition with no message at or after the time starts at its end (Spark's
        # default fails the query): nothing of it is to be re-read, and what comes later is.
        options["startingTimestamp"] = str(millis)
        options["startingOffsetsByTimestampStrategy"] = "latest"
    if source.max_offsets_per_trigger is not None:  # a backlog in batches (docs/sources.md)
        options["maxOffsetsPerTrigger"] = str(source.max_offsets_per_trigger)
    return {**options, **source.options}


def read_kafka(spark: SparkSession, source: KafkaSource, pattern: str) -> DataFrame:
    """One row per message of the topics matching `pattern`: key and value as text (NULL
    value = tombstone), topic and position."""
    reader = spark.readStream.format("kafka").options(**kafka_options(source, pattern))
    return reader.load().select(
        F.col("key").cast("string").alias("key"),
        F.col("value").cast("string").alias("value"),
        "topic",
        "partition",
        "offset",
    )


def quiet_partitions(
    spark: SparkSession, source: KafkaSource, topics: Sequence[str]
) -> dict[str, list[int]]:
    """For each existing topic, its partitions holding no message at or after
    `source.starting_timestamp`: where a new checkpoint starts at the end.

    Asks the brokers from the driver (Kafka's `offsetsForTimes`, the look-up Spark makes
    for `startingTimestamp`) with the kafka-clients the Kafka source ships with. A topic
    that does not exist yet is left out. Offsets only: no message is read.
    """
    if source.starting_timestamp is None or not topics:
        return {}
    millis = int(source.starting_timestamp.timestamp() * 1000)
    jvm: Any = spark.sparkContext._jvm
    kafka = jvm.org.apache.kafka
    consumer = kafka.clients.consumer.KafkaConsumer(_consumer_properties(jvm, source))
    try:
        existing = set(consumer.listTopics(jvm.java.time.Duration.ofMillis(15_000)).keySet())
        wanted = jvm.java.util.HashMap()
        for topic in sorted(set(topics) & {str(t) for t in existing}):
            for info in consumer.partitionsFor(topic):
                partition = kafka.common.TopicPartition(topic, info.partition())
                wanted.put(partition, jvm.java.lang.Long.valueOf(millis))
        found = consumer.offsetsForTimes(wanted)
        quiet: dict[str, list[int]] = {}
        for partition in wanted.keySet():
            if found.get(partition) is None:
                quiet.setdefault(str(partition.topic()), []).append(int(partition.partition()))
        return {topic: sorted(parts) for topic, parts in sorted(quiet.items())}
    finally:
        consumer.close()


def end_offsets(
    spark: SparkSession, source: KafkaSource, pattern: str
) -> dict[tuple[str, int], tuple[int, int]]:
    """(topic, partition) -> (first, next) offset held by the brokers, for every partition
    of the topics matching `pattern` (the query's): what a consumer has left to read.

    Asked from the driver with the Kafka source's kafka-clients, like `quiet_partitions`;
    offsets only, no message is read.
    """
    jvm: Any = spark.sparkContext._jvm
    kafka = jvm.org.apache.kafka
    consumer = kafka.clients.consumer.KafkaConsumer(_consumer_properties(jvm, source))
    try:
        topics = consumer.listTopics(jvm.java.time.Duration.ofMillis(15_000)).keySet()
        matching = re.compile(pattern)
        partitions = jvm.java.util.ArrayList()
        for topic in sorted(str(t) for t in topics if matching.fullmatch(str(t))):
            for info in consumer.partitionsFor(topic):
                partitions.add(kafka.common.TopicPartition(topic, info.partition()))
        if partitions.isEmpty():
            return {}
        first, last = consumer.beginningOffsets(partitions), consumer.endOffsets(partitions)
        return {
            (str(p.topic()), int(p.partition())): (int(first.get(p)), int(last.get(p)))
            for p in partitions
        }
    finally:
        consumer.close()


def _consumer_properties(jvm: Any, source: KafkaSource) -> Any:
    """The job's Kafka client options (`kafka.*`), for a consumer that reads no message."""
    deserializer = "org.apache.kafka.common.serialization.ByteArrayDeserializer"
    properties = jvm.java.util.Properties()
    options = source.options.items()
    client = {k.removeprefix("kafka."): v for k, v in options if k.startswith("kafka.")}
    settings = {
        **client,
        "bootstrap.servers": source.bootstrap_servers,
        "key.deserializer": deserializer,
        "value.deserializer": deserializer,
        "enable.auto.commit": "false",
        "default.api.timeout.ms": _LOOKUP_TIMEOUT_MS,
        "request.timeout.ms": _LOOKUP_TIMEOUT_MS,
    }
    for key, value in settings.items():
        properties.setProperty(key, value)
    return properties

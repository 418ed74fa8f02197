"""How much a micro-batch reads by default, per source (docs/sources.md, *Batch sizes*):
a backlog is consumed in batches big enough to amortize a batch's fixed cost, bounded so
that one batch never takes the whole backlog at once. The options reach the readers."""

from __future__ import annotations

from config import AwsConfig, FilesSource, KafkaSource, KinesisSource
from sources.kafka import kafka_options
from sources.kinesis import kinesis_options


def test_kafka_reads_at_most_half_a_million_messages_a_batch_unless_told() -> None:
    default = kafka_options(
        KafkaSource(bootstrap_servers="127.0.0.1:9092", topic_prefix="db"), "^x$"
    )
    smaller = KafkaSource(
        bootstrap_servers="127.0.0.1:9092", topic_prefix="db", max_offsets_per_trigger=1000
    )
    uncapped = KafkaSource(
        bootstrap_servers="127.0.0.1:9092", topic_prefix="db", max_offsets_per_trigger=None
    )

    assert default["maxOffsetsPerTrigger"] == "500000"
    assert default["subscribePattern"] == "^x$"
    assert default["failOnDataLoss"] == "true"
    assert default["kafka.fetch.max.wait.ms"] == "20"  # no 500 ms stall per batch
    assert kafka_options(smaller, "^x$")["maxOffsetsPerTrigger"] == "1000"
    assert "maxOffsetsPerTrigger" not in kafka_options(uncapped, "^x$")


def test_kafka_options_of_the_source_win() -> None:
    source = KafkaSource(
        bootstrap_servers="127.0.0.1:9092",
        topic_prefix="db",
        options={
            "maxOffsetsPerTrigger": "7",
            "kafka.security.protocol": "SSL",
            "kafka.fetch.max.wait.ms": "100",
        },
    )

    options = kafka_options(source, "^x$")

    assert options["maxOffsetsPerTrigger"] == "7"
    assert options["kafka.fetch.max.wait.ms"] == "100"
    assert options["kafka.security.protocol"] == "SSL"


def test_kinesis_reads_at_most_100000_records_a_shard_a_batch_on_both_connectors() -> None:
    options = kinesis_options(KinesisSource(stream="cdc"), AwsConfig(region="eu-west-1"))

    assert options["maxFetchRecordsPerShard"] == "100000"  # Glue's source
    assert options["kinesis.executor.maxFetchRecordsPerShard"] == "100000"  # the connector's


def test_landing_files_are_read_a_thousand_at_a_time() -> None:
    assert FilesSource(path="/landing").max_files_per_trigger == 1000

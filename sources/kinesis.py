"""DMS change records from a Kinesis data stream, with their position in the stream.

One reader for both runtimes: `spark.readStream.format("kinesis")` is Glue's built-in
Kinesis source on Glue and the connector pinned in jars/pom.xml under spark-submit; both
take the option names used here (those they do not know, they ignore) and give the same
columns: data, streamName, partitionKey, sequenceNumber, approximateArrivalTimestamp.
"""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from aws import client
from config import AwsConfig, KinesisSource
from transforms.names import FILE, KINESIS_POSITION, SEP

__all__ = ["kinesis_endpoint", "kinesis_options", "kinesis_position", "read_kinesis"]

# Kinesis sequence numbers are decimal strings of up to 128 digits: pad to sort as numbers.
_SEQUENCE_DIGITS = 128
# The open-source connector's fetch budget per shard and batch (its default: 1 s) starts
# before the executor's first call, so a cold executor on a busy machine could spend it
# all on its client's start-up and read nothing. Reading stops anyway once a shard is
# caught up (MillisBehindLatest 0): a larger budget only lets a backlog fill the batch.
_FETCH_TIME_MS = "10000"


def kinesis_endpoint(aws: AwsConfig) -> str:
    return aws.endpoints.get("kinesis") or f"https://kinesis.{aws.region}.amazonaws.com"


def kinesis_options(
    source: KinesisSource, aws: AwsConfig, *, shard_ids: list[str] | None = None
) -> dict[str, str]:
    """Reader options; `shard_ids` is needed only to start a new checkpoint at a timestamp
    with the open-source connector, whose per-shard start position is a JSON document."""
    options = {
        "streamName": source.stream_name,
        "endpointUrl": kinesis_endpoint(aws),
        "regionName": aws.region,
        "startingPosition": source.starting_position,
        # Open-source connector: AWS's default credential chain (environment, profile,
        # container, then instance profile) instead of the instance profile alone.
        "awsUseInstanceProfile": "false",
        "kinesis.executor.maxFetchTimeInMs": _FETCH_TIME_MS,
    }
    if source.stream.startswith("arn:"):
        options["streamARN"] = source.stream
    if source.starting_timestamp is not None:
        options["startingPosition"] = _at_timestamp(
            source.starting_timestamp, shard_ids, source.stream_name
        )
    limit = str(source.max_records_per_shard)
    options["maxFetchRecordsPerShard"] = limit  # Glue
    options["kinesis.executor.maxFetchRecordsPerShard"] = limit  # open-source connector
    return {**options, **source.options}


def _at_timestamp(at: datetime, shard_ids: list[str] | None, stream: str) -> str:
    if shard_ids is None:  # Glue: a UTC timestamp is a starting position of its own
        return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    millis = str(int(at.timestamp() * 1000))
    positions: dict[str, object] = {
        shard: {"iteratorType": "AT_TIMESTAMP", "iteratorPosition": millis} for shard in shard_ids
    }
    positions["metadata"] = {"streamName": stream, "batchId": "0"}
    return json.dumps(positions)


def _shard_ids(source: KinesisSource, aws: AwsConfig) -> list[str]:
    kinesis = client("kinesis", aws)
    shards: list[str] = []
    pages = kinesis.get_paginator("list_shards").paginate(StreamName=source.stream_name)
    for page in pages:
        shards.extend(str(shard["ShardId"]) for shard in page["Shards"])
    return shards


def _on_glue() -> bool:
    return importlib.util.find_spec("awsglue") is not None


def read_kinesis(spark: SparkSession, source: KinesisSource, aws: AwsConfig) -> DataFrame:
    """One row per record: `value` text, `_file` (stream/partition key) and its position."""
    shards = None
    if source.starting_timestamp is not None and not _on_glue():
        shards = _shard_ids(source, aws)
    options = kinesis_options(source, aws, shard_ids=shards)
    reader = spark.readStream.format("kinesis")
    for key, value in options.items():
        reader = reader.option(key, value)
    return reader.load().select(
        F.col("data").cast("string").alias("value"),
        F.concat_ws("/", F.lit("kinesis:" + source.stream_name), F.col("partitionKey")).alias(FILE),
        kinesis_position(F.col("sequenceNumber")).alias(KINESIS_POSITION),
    )


def kinesis_position(sequence_number: Column) -> Column:
    """Sequence numbers grow within a shard, and across shards with arrival time."""
    return F.concat(F.lit("1" + SEP), F.lpad(sequence_number, _SEQUENCE_DIGITS, "0"))

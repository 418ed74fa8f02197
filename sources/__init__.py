"""Streaming readers: raw records plus their transport position, nothing decoded."""

from sources.files import landing_path, read_landing_files
from sources.kafka import kafka_topic, read_kafka

__all__ = ["kafka_topic", "landing_path", "read_kafka", "read_landing_files"]

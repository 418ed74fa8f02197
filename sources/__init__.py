"""Streaming readers: raw records plus their transport position, nothing decoded; and the
catalogs that describe the source's tables (discovery.py)."""

from sources.files import landing_path, read_landing
from sources.kafka import kafka_topic, read_kafka, topic_pattern

__all__ = ["kafka_topic", "landing_path", "read_kafka", "read_landing", "topic_pattern"]

"""Spark's streaming checkpoint files, read as Spark 3.5 writes them (pure functions).

A query's checkpoint folder holds:

    metadata              {"id": "<query id>"}
    offsets/<batch>       "v1", the batch's metadata ({"batchTimestampMs": ...}), then one
                          line per source: its end offset as JSON ("-" when it has none)
    commits/<batch>       written when the batch's foreachBatch returned: it is done
    sources/0/<batch>     file source only: "v1", then one JSON line per file the batch
                          read ({"path": <URI>, "timestamp": ..., "batchId": ...});
                          every 10th batch is `<batch>.compact`, every file up to it

The end offset of a source, per kind: Kafka `{"<topic>": {"<partition>": <next offset>}}`;
the Kinesis connector `{"metadata": {...}, "shardId-...": {"iteratorType": ...,
"iteratorPosition": "<sequence number>"}}`; the file source `{"logOffset": <batch>}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

__all__ = [
    "CheckpointError",
    "PlannedBatch",
    "file_log_names",
    "kafka_offsets",
    "kinesis_positions",
    "last_committed",
    "normal_path",
    "parse_file_log",
    "parse_offsets",
    "query_id",
]


class CheckpointError(ValueError):
    """A checkpoint file that is not what Spark writes."""


@dataclass(frozen=True)
class PlannedBatch:
    batch_id: int
    planned_ms: int | None  # when Spark planned the batch
    sources: tuple[Any, ...]  # each source's end offset (parsed JSON), None when "-"


def query_id(text: str) -> str:
    """The query id of a checkpoint's `metadata` file."""
    try:
        return str(json.loads(text)["id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"metadata is not a Spark checkpoint's: {exc}") from None


def last_committed(names: Iterable[str]) -> int | None:
    """The newest batch of `commits/` (its file names); None when none is committed."""
    batches = [int(n) for n in names if n.isdigit()]
    return max(batches) if batches else None


def parse_offsets(batch_id: int, text: str) -> PlannedBatch:
    """An `offsets/<batch>` file."""
    lines = text.splitlines()
    if len(lines) < 2 or not lines[0].startswith("v"):
        raise CheckpointError(f"offsets/{batch_id}: not an offset log entry (no version line)")
    try:
        metadata = json.loads(lines[1])
        sources = tuple(None if line == "-" else json.loads(line) for line in lines[2:])
    except ValueError as exc:
        raise CheckpointError(f"offsets/{batch_id}: not JSON ({exc})") from None
    planned = metadata.get("batchTimestampMs") if isinstance(metadata, dict) else None
    return PlannedBatch(batch_id, None if planned is None else int(planned), sources)


def kafka_offsets(offset: Any) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the next offset to read, from a Kafka source's end offset."""
    if not isinstance(offset, dict):
        raise CheckpointError(f"not a Kafka source offset: {type(offset).__name__}")
    positions: dict[tuple[str, int], int] = {}
    for topic, partitions in offset.items():
        if not isinstance(partitions, dict):
            raise CheckpointError(f"not a Kafka source offset: topic {topic}")
        for partition, position in partitions.items():
            positions[(str(topic), int(partition))] = int(position)
    return positions


def kinesis_positions(offset: Any) -> dict[str, str]:
    """Shard id -> the sequence number it has read to, from a Kinesis source's offset."""
    if not isinstance(offset, dict):
        raise CheckpointError(f"not a Kinesis source offset: {type(offset).__name__}")
    positions = {}
    for shard, value in offset.items():
        if shard == "metadata":
            continue
        if isinstance(value, dict):
            position = value.get("iteratorPosition") or value.get("sequenceNumber") or ""
            kind = value.get("iteratorType")
            positions[str(shard)] = str(position) if position else str(kind or "")
        else:
            positions[str(shard)] = str(value)
    return positions


def file_log_names(names: Iterable[str]) -> list[str]:
    """The entries of `sources/0/` that list every file read: the newest `.compact` and
    the batches after it (older entries are in the compact file, or deleted by Spark)."""
    entries = []
    for name in names:
        stem = name.removesuffix(".compact")
        if stem.isdigit():
            entries.append((int(stem), name))
    entries.sort()
    compacts = [i for i, (_, name) in enumerate(entries) if name.endswith(".compact")]
    start = compacts[-1] if compacts else 0
    return [name for _, name in entries[start:]]


def parse_file_log(name: str, text: str) -> list[tuple[str, int]]:
    """(file path, normalized; the batch that read it) of one `sources/0/` entry."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("v"):
        raise CheckpointError(f"sources/0/{name}: not a file source log entry")
    paths = []
    for line in lines[1:]:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            paths.append((normal_path(str(entry["path"])), int(entry["batchId"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"sources/0/{name}: not a file entry ({exc})") from None
    return paths


def normal_path(path: str) -> str:
    """One spelling per file: Spark logs `file:///a%20b`, Hadoop lists `file:/a b`."""
    text = unquote(path)
    for prefix in ("file://", "file:"):
        if text.startswith(prefix):
            return "/" + text[len(prefix) :].lstrip("/")
    return text

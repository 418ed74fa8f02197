"""The lake's commit log: one JSON manifest per commit, pure data and logic.

A manifest lists every partition with its data files, its key-index files, its
live row and tombstone counts, the range of its first key column (used to find
which partitions may hold a key without reading them all) and when its oldest
tombstone was written (whether a rewrite drops expired ones), and the table's
schema (Spark's JSON form), so that a new source column is noticed. While `pending`
is set, the commit is decided but its files may not all be in place yet: a
restarted job rolls it forward.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class PartitionEntry:
    data: tuple[str, ...]  # file names in the published partition folder
    keys: tuple[str, ...]  # file names in the key-index folder of the partition
    rows: int
    tombstones: int
    min_key: str | None
    max_key: str | None
    # when its oldest tombstone was written (microseconds since 1970): a rewrite can then
    # tell whether it drops expired ones; None: none left, or not known
    oldest_tombstone: int | None = None


@dataclass(frozen=True)
class Pending:
    staging: str  # folder holding this commit's new files until they are moved
    partitions: tuple[str, ...]  # partition paths this commit replaces


@dataclass(frozen=True)
class Manifest:
    version: int = 0
    writers: dict[str, int] = field(default_factory=dict)  # writer id -> last batch id
    partitions: dict[str, PartitionEntry] = field(default_factory=dict)
    pending: Pending | None = None
    schema: str | None = None  # StructType.json() of the published files; None before any

    @property
    def rows(self) -> int:
        return sum(e.rows for e in self.partitions.values())

    def committed(self, writer_id: str, batch_id: int) -> bool:
        return self.writers.get(writer_id, -1) >= batch_id

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> Manifest:
        raw: dict[str, Any] = json.loads(text)
        partitions = {
            path: PartitionEntry(
                data=tuple(e["data"]),
                keys=tuple(e["keys"]),
                rows=int(e["rows"]),
                tombstones=int(e["tombstones"]),
                min_key=e["min_key"],
                max_key=e["max_key"],
                oldest_tombstone=e.get("oldest_tombstone"),
            )
            for path, e in raw["partitions"].items()
        }
        pending = raw.get("pending")
        return Manifest(
            version=int(raw["version"]),
            writers={k: int(v) for k, v in raw["writers"].items()},
            partitions=partitions,
            pending=Pending(pending["staging"], tuple(pending["partitions"])) if pending else None,
            schema=raw.get("schema"),
        )


def next_manifest(
    previous: Manifest,
    *,
    writer_id: str,
    batch_id: int,
    staging: str,
    affected: set[str],
    rewritten: dict[str, PartitionEntry],
    schema: str,
) -> Manifest:
    """The manifest after replacing the affected partitions by their rewritten entries.

    An affected partition absent from `rewritten` became empty and disappears.
    """
    partitions = {p: e for p, e in previous.partitions.items() if p not in affected}
    partitions.update(
        {p: e for p, e in rewritten.items() if p in affected and (e.rows or e.tombstones)}
    )
    return Manifest(
        version=previous.version + 1,
        writers={**previous.writers, writer_id: batch_id},
        partitions=partitions,
        pending=Pending(staging=staging, partitions=tuple(sorted(affected))),
        schema=schema,
    )


def applied(manifest: Manifest) -> Manifest:
    return replace(manifest, pending=None)

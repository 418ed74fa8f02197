"""Apply micro-batches to a partition-rewrite Parquet lake.

Layout of one table: see files.py. One batch, in steps:

1. **decide**: find the partitions that may hold the batch's keys (key ranges in the
   manifest), read only their key index, keep the changes newer than what is held
   (sinks/decide.py, shared with Delta and Iceberg), count them, and in the same Spark job what
   they do to each partition's figures (figures.py); a table's first batch (the table
   holds nothing, so every change kept is accepted) is counted after step 2 instead,
   from the files it staged (load.py);
2. **stage**: rewrite the affected partitions (old partitions of the touched keys and
   new partitions of the incoming rows), data and key index, into staging (rewrite.py);
   their figures are the held ones plus the batch's, read back from the staged key
   index only when a rewritten partition may hold an expired tombstone;
3. **commit**: write the next manifest naming the new files: the batch is decided;
4. **publish**: move the staged files into place and mark the commit applied;
5. **catalog**: register the partitions the commit created or emptied.

Retention: the guard ignores expired tombstones (sinks/decide.py); step 2 drops the
expired tombstones of the partitions it rewrites anyway, so they leave in the batch's
own manifest commit and cost no extra read (a partition no batch touches keeps them
until one does: they cost storage, never correctness).

A crash before the manifest leaves staging that is discarded (Spark re-runs the batch);
a crash after it is rolled forward by `recover`.

On S3 the same steps hold without an atomic rename (see sinks/storage.py): the
manifest is created once under its final name, and moving files into place is a
repeatable copy-then-delete that a restart finishes. With a catalog, at start the
catalog is reconciled with the manifest (see sinks/catalog/glue.py).

The driver lists the staged files of step 2 with one recursive listing per folder, and
moves the files of step 4 for several partitions at once (publish.py): a few requests each,
tens of milliseconds apiece on S3.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from sinks.base import BatchResult
from sinks.catalog import PartitionCatalog
from sinks.crash import crash_point
from sinks.decide import Decision, decide, decide_first, key_schema
from sinks.lake.candidates import held_keys
from sinks.lake.columns import cast_to, recorded_schema, table_schema, written_schema
from sinks.lake.figures import Arrivals, Staged, count_by_partition, entries, settle
from sinks.lake.files import TableFiles
from sinks.lake.load import stage_new, staged_figures
from sinks.lake.manifest import Manifest, PartitionEntry, applied, next_manifest
from sinks.lake.publish import forget_old_manifests, publish
from sinks.lake.rewrite import data_rows, key_index_rows, touched
from sinks.retention import Expiry
from transforms.names import ACCEPTED, BOOKKEEPING


class LakeEngine:
    """One table of the lake; create one per table and reuse it for every batch."""

    def __init__(
        self,
        spark: SparkSession,
        table_path: str,
        *,
        keys: Sequence[str],
        partition_by: Sequence[str] = (),
        state_dir: str = "_cdc",
        max_records_per_file: int = 1_000_000,
        catalog: PartitionCatalog | None = None,
        expiry: Expiry | None = None,
    ) -> None:
        self._spark = spark
        self._files = TableFiles(
            spark,
            table_path,
            partition_by=partition_by,
            state_dir=state_dir,
            max_records_per_file=max_records_per_file,
        )
        self._storage = self._files.storage
        self.path = self._files.path
        self.location = self.path
        self._keys = list(keys)
        self._parts = list(partition_by)
        self._manifest: Manifest | None = None
        self._catalog = catalog
        self._expiry = expiry or Expiry()

    @property
    def files(self) -> TableFiles:
        return self._files

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self._keys)

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self._parts)

    @property
    def takes_text(self) -> bool:
        """Whether a batch can be staged with other tables' by one Spark job
        (sinks/lake/text_load.py): a table never written, on the local file system or S3."""
        manifest = self.manifest
        fresh = manifest.schema is None and not manifest.partitions
        return fresh and self._storage.arrow_files(self.path) is not None

    def now(self) -> datetime:
        """The time a batch stamps its tombstones with."""
        return self._expiry.now()

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self.recover()
        assert self._manifest is not None
        return self._manifest

    def recover(self) -> None:
        """Roll a decided commit forward and drop staging of undecided ones."""
        versions = self._files.versions()
        manifest = Manifest()
        if versions:
            manifest = Manifest.from_json(
                self._storage.read_text(self._files.manifest_file(versions[-1]))
            )
            if not self._storage.exists(self._files.applied_marker(manifest.version)):
                publish(self._files, manifest)
            manifest = applied(manifest)
        self._storage.delete(self._files.staging_root, recursive=True)
        self._manifest = manifest
        if self._catalog is not None and manifest.schema is not None:
            # Finishes the registration of a commit whose process died right after it.
            self._catalog.reconcile(
                recorded_schema(manifest.schema), self._parts, _published(manifest)
            )

    def apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        started = time.monotonic()
        previous = self.manifest
        if previous.committed(writer_id, batch_id):
            return BatchResult(batch_id=batch_id, skipped=True, rows_in_table=previous.rows)
        timings: dict[str, float] = {}
        batch_schema = StructType(
            [changes.schema[c] for c in changes.columns if c not in BOOKKEEPING]
        )
        schema, widened = table_schema(previous.schema, batch_schema, f"lake table {self.path}")
        staging = self._files.staging(previous.version + 1)
        now = self._expiry.now()
        at = (staging, now, self._expiry.tombstones_before(now))
        decision, affected, rewritten = self._decide_and_stage(
            changes, previous, (schema, widened), at, timings
        )
        staged = (staging, affected, rewritten)
        writer = (writer_id, batch_id)
        return self.commit(previous, staged, schema, writer=writer, decision=decision,
                           timings=timings, started=started)  # fmt: skip

    def commit(
        self,
        previous: Manifest,
        staged: tuple[str, set[str], dict[str, PartitionEntry]],
        schema: StructType,
        *,
        writer: tuple[str, int],
        decision: Decision,
        timings: dict[str, float],
        started: float,
    ) -> BatchResult:
        """Steps 3 to 5 of a batch whose files are `staged` (its staging folder, the
        partitions it rewrites, and their manifest entries) over the table's `previous`
        manifest, by `writer` (its id, the batch's); `timings` so far, `total_s` counted
        from `started` (a `time.monotonic()`)."""
        staging, affected, rewritten = staged
        writer_id, batch_id = writer
        crash_point("lake.after_staging")
        manifest = next_manifest(
            previous,
            writer_id=writer_id,
            batch_id=batch_id,
            staging=staging,
            affected=affected,
            rewritten=rewritten,
            schema=schema.json(),
        )
        self._storage.write_text_atomic(
            self._files.manifest_file(manifest.version), manifest.to_json()
        )
        crash_point("lake.after_commit")
        mark = time.monotonic()
        publish(self._files, manifest)
        self._manifest = applied(manifest)
        timings["publish_s"] = time.monotonic() - mark
        if self._catalog is not None:
            mark = time.monotonic()
            self._register(previous, manifest, schema)
            timings["catalog_s"] = time.monotonic() - mark
        forget_old_manifests(self._files, manifest.version)
        timings["total_s"] = time.monotonic() - started
        return decision.result(
            batch_id, partitions=len(affected), rows=manifest.rows, timings=timings
        )

    # ------------------------------------------------------- 1. and 2.

    def _decide_and_stage(
        self,
        changes: DataFrame,
        previous: Manifest,
        table: tuple[StructType, bool],
        at: tuple[str, datetime, datetime | None],
        timings: dict[str, float],
    ) -> tuple[Decision, set[str], dict[str, PartitionEntry]]:
        """Decide the batch and stage what it writes (`table`: the table's schema, and
        whether the batch widens it); its decision, the partitions it rewrites, and their
        manifest entries. Into a table that holds nothing, staged first and counted from
        what it staged (load.py)."""
        started = time.monotonic()
        schema, widened = table
        staging, now, before = at
        if not previous.partitions:
            return self._stage_first(changes, schema, (staging, now), timings)
        holds = held_keys(self._files, changes, previous, self._keys, self._parts)
        decided = changes.transform(decide(self._keys, holds, before)).persist()
        try:
            decision, arrivals = self._count(decided)
            timings["decide_s"] = time.monotonic() - started
            accepted = decided.where(F.col(ACCEPTED))
            affected = self._affected(decision, previous, widened)
            mark = time.monotonic()
            self._stage(accepted, previous, affected, schema, at, n_accepted=decision.accepted)
            rewritten = self._staged_entries(
                staging, affected, self._figures(previous, arrivals, affected, schema, at)
            )
            timings["rewrite_s"] = time.monotonic() - mark
            return decision, affected, rewritten
        finally:
            decided.unpersist()

    def _stage_first(
        self,
        changes: DataFrame,
        schema: StructType,
        at: tuple[str, datetime],
        timings: dict[str, float],
    ) -> tuple[Decision, set[str], dict[str, PartitionEntry]]:
        """`_decide_and_stage` into a table that holds nothing (load.py): decided without
        joins, staged, then counted from what it staged."""
        started = time.monotonic()
        decided = changes.transform(decide_first(self._keys, self._parts)).persist()
        try:
            accepted = decided.where(F.col(ACCEPTED))
            timings["decide_s"] = time.monotonic() - started
            decision, figures, listed = stage_new(
                self._files, accepted, schema, keys=self._keys, parts=self._parts, at=at
            )
            timings["rewrite_s"] = time.monotonic() - started - timings["decide_s"]
            entries = self._staged_entries(at[0], set(figures), figures, keys=listed)
            return decision, set(figures), entries
        finally:
            decided.unpersist()

    # ------------------------------------------------------------ 1. decide

    def _count(self, decided: DataFrame) -> tuple[Decision, dict[str, Arrivals]]:
        """The batch's decision, and what it does to each partition's key index (by path)."""
        decision, arrivals = count_by_partition(decided, self._keys, self._parts)
        return decision, {self._path(values): a for values, a in arrivals.items()}

    def _path(self, values: tuple[str | None, ...]) -> str:
        return self._files.partition_path(list(values)) if self._parts else ""

    def _affected(self, decision: Decision, previous: Manifest, widened: bool) -> set[str]:
        """Partition paths the batch rewrites (those `count` listed the accepted changes
        touch); all of them when it brings a new column."""
        affected: set[str] = set()
        if decision.accepted and not self._parts:
            affected = {""}
        elif decision.accepted:
            affected = {self._files.partition_path(list(v)) for v in decision.partitions}
        if widened and previous.partitions:
            # Every published file must carry the new column: readers that take the
            # schema from one file (pyarrow, Spark without mergeSchema) would miss it.
            affected |= set(previous.partitions)
        return affected

    # ------------------------------------------------------------- 2. stage

    def _stage(
        self,
        accepted: DataFrame,
        previous: Manifest,
        affected: set[str],
        schema: StructType,
        at: tuple[str, datetime, datetime | None],
        *,
        n_accepted: int,
    ) -> None:
        """Write the new content of every affected partition (data and key index) to the
        staging folder `at[0]`; tombstones are stamped `at[1]`, those before `at[2]` dropped."""
        staging, now, before = at
        if not affected:
            return
        existing = [p for p in sorted(affected) if p in previous.partitions]
        # at most this many rows in either staged table: held rows and tombstones of the
        # rewritten partitions, and one per accepted change
        rows = n_accepted + sum(
            previous.partitions[p].rows + previous.partitions[p].tombstones for p in existing
        )
        gone = touched(accepted, self._keys)

        data_files = [
            self._files.data_file(p, n) for p in existing for n in previous.partitions[p].data
        ]
        old_data = None
        if data_files:
            written = recorded_schema(previous.schema) if previous.schema else schema
            old_data = cast_to(self._files.read(data_files, self.path, written), schema)
        new_data = data_rows(accepted, schema, old_data, gone)
        self._files.write(new_data, f"{staging}/data", rows)

        index_schema = key_schema(schema, self._keys, self._parts)
        key_files = [
            self._files.key_file(p, n) for p in existing for n in previous.partitions[p].keys
        ]
        old_keys = None
        if key_files:
            written = written_schema(previous, index_schema, self._keys, self._parts)
            old_keys = cast_to(
                self._files.read(key_files, self._files.keys_root, written), index_schema
            )
        new_keys = key_index_rows(
            accepted, self._keys, self._parts, at=(now, before), held=old_keys, gone=gone
        )
        self._files.write(new_keys, f"{staging}/keys", rows)

    def _figures(
        self,
        previous: Manifest,
        arrivals: dict[str, Arrivals],
        affected: set[str],
        schema: StructType,
        at: tuple[str, datetime, datetime | None],
    ) -> dict[str, Staged]:
        """The staged partitions' figures: the held ones plus the batch's `arrivals`, or
        read back from the staged key index when that cannot tell (figures.py)."""
        staging, now, before = at
        held = {
            path: Staged(e.rows, e.tombstones, e.min_key, e.max_key, e.oldest_tombstone)
            for path, e in previous.partitions.items()
            if path in affected
        }
        first = schema[self._keys[0]].dataType
        settled = settle(
            held, arrivals, affected, key_type=first, written=now, expired_before=before
        )
        if settled is not None or not affected:
            return settled or {}
        return staged_figures(self._files, staging, schema, keys=self._keys, parts=self._parts)

    def _staged_entries(
        self,
        staging: str,
        affected: set[str],
        paths: dict[str, Staged],
        *,
        keys: dict[str, list[str]] | None = None,
    ) -> dict[str, PartitionEntry]:
        """The manifest entries of the staged partitions (`paths`: their figures), their
        files from one recursive listing of each staged folder, not one per partition
        (`keys`: the key folder's, when the caller listed it already)."""
        if not affected:
            return {}
        data = self._storage.list_tree(f"{staging}/data")
        if keys is None:
            keys = self._storage.list_tree(f"{staging}/keys")
        return entries({p: f for p, f in paths.items() if p in affected}, data, keys)

    # ----------------------------------------------------------- 5. catalog

    def _register(self, previous: Manifest, manifest: Manifest, schema: StructType) -> None:
        assert self._catalog is not None
        self._catalog.sync(
            schema,
            self._parts,
            added=_published(manifest) - _published(previous),
            removed=_published(previous) - _published(manifest),
        )


def _published(manifest: Manifest) -> set[str]:
    """Partitions with a published folder (a partition of tombstones only has none)."""
    return {path for path, entry in manifest.partitions.items() if entry.data}

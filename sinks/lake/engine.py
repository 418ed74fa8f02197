"""Apply micro-batches to a partition-rewrite Parquet lake.

Layout of one table:

    <table>/year=2020/month=5/day=12/part-*.parquet   published, live rows only
    <table>/_cdc/keys/year=2020/.../part-*.parquet     key index: keys, _seq, _pos,
                                                       _deleted (tombstones) per partition
    <table>/_cdc/manifest/<version>.json               commit log (see manifest.py)
    <table>/_cdc/staging/<version>/{data,keys}/...      files of a commit being published

One batch: find the partitions that may hold the batch's keys (key ranges in the
manifest), read only their key index, keep the changes newer than what is held,
then rewrite the affected partitions (old partitions of the touched keys and new
partitions of the incoming rows) into staging, commit a manifest naming the new
files, and move them into place. A crash before the manifest leaves staging that
is discarded (Spark re-runs the batch); a crash after it is rolled forward.

On S3 the same steps hold without an atomic rename (see sinks/storage.py): the
manifest is created once under its final name, and moving files into place is a
repeatable copy-then-delete that a restart finishes. With a catalog, the partitions a
commit created (or emptied) are registered (or dropped) once its files are in place,
and at start the catalog is reconciled with the manifest (see sinks/catalog.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, StringType, StructField, StructType

from sinks.base import BatchResult
from sinks.catalog import PartitionCatalog
from sinks.crash import crash_point
from sinks.lake.manifest import Manifest, PartitionEntry, applied, next_manifest
from sinks.storage import Storage
from transforms.names import BOOKKEEPING, OP, POS, SEQ
from transforms.ordering import latest_per_key, newer_than

_DELETED = "_deleted"
_HELD = "__held"
_OLD = "__old_"
_KEEP_MANIFESTS = 20


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
    ) -> None:
        self._spark = spark
        self._storage = Storage(spark, table_path)
        self.path = self._storage.root
        self.location = self.path
        self._keys = list(keys)
        self._parts = list(partition_by)
        self._state = f"{self.path}/{state_dir}"
        self._max_records = max_records_per_file
        self._manifest: Manifest | None = None
        self._catalog = catalog

    # ----------------------------------------------------------------- public

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self.recover()
        assert self._manifest is not None
        return self._manifest

    def recover(self) -> None:
        """Roll a decided commit forward and drop staging of undecided ones."""
        versions = self._versions()
        manifest = Manifest()
        if versions:
            manifest = Manifest.from_json(
                self._storage.read_text(self._manifest_file(versions[-1]))
            )
            if not self._storage.exists(self._applied_marker(manifest.version)):
                self._publish(manifest)
            manifest = applied(manifest)
        self._storage.delete(f"{self._state}/staging", recursive=True)
        self._manifest = manifest
        if self._catalog is not None and manifest.schema is not None:
            # Finishes the registration of a commit whose process died right after it.
            self._catalog.reconcile(_schema(manifest.schema), self._parts, _published(manifest))

    def apply(self, changes: DataFrame, batch_id: int, writer_id: str) -> BatchResult:
        started = time.monotonic()
        timings: dict[str, float] = {}
        previous = self.manifest
        if previous.committed(writer_id, batch_id):
            return BatchResult(batch_id=batch_id, skipped=True, rows_in_table=previous.rows)
        batch_schema = StructType(
            [changes.schema[c] for c in changes.columns if c not in BOOKKEEPING]
        )
        payload_schema, widened = _table_schema(previous.schema, batch_schema)

        held = self._held_keys(changes, previous)
        decided = self._decide(changes, held).persist()
        try:
            counts = decided.agg(
                F.count(F.lit(1)).alias("changes"),
                F.sum(F.when(F.col("__accepted") & (F.col(OP) != "D"), 1).otherwise(0)).alias("up"),
                F.sum(F.when(F.col("__accepted") & (F.col(OP) == "D"), 1).otherwise(0)).alias(
                    "del"
                ),
            ).first()
            assert counts is not None
            timings["decide_s"] = time.monotonic() - started
            accepted = decided.where("__accepted")
            if int(counts["up"] or 0) + int(counts["del"] or 0) == 0:
                affected: set[str] = set()
            else:
                affected = self._affected_partitions(accepted)
            if widened and previous.partitions:
                # Every published file must carry the new column: readers that take the
                # schema from one file (pyarrow, Spark without mergeSchema) would miss it.
                affected |= set(previous.partitions)
            version = previous.version + 1
            staging = f"{self._state}/staging/{version:020d}"
            rewritten: dict[str, PartitionEntry] = {}
            if affected:
                mark = time.monotonic()
                self._stage(
                    accepted,
                    previous=previous,
                    affected=affected,
                    payload_schema=payload_schema,
                    staging=staging,
                )
                rewritten = self._staged_entries(staging, affected, payload_schema)
                timings["rewrite_s"] = time.monotonic() - mark
        finally:
            decided.unpersist()
        crash_point("lake.after_staging")

        manifest = next_manifest(
            previous,
            writer_id=writer_id,
            batch_id=batch_id,
            staging=staging,
            affected=affected,
            rewritten=rewritten,
            schema=payload_schema.json(),
        )
        self._storage.write_text_atomic(self._manifest_file(manifest.version), manifest.to_json())
        crash_point("lake.after_commit")
        mark = time.monotonic()
        self._publish(manifest)
        timings["publish_s"] = time.monotonic() - mark
        self._manifest = applied(manifest)
        if self._catalog is not None:
            mark = time.monotonic()
            self._catalog.sync(
                payload_schema,
                self._parts,
                added=_published(manifest) - _published(previous),
                removed=_published(previous) - _published(manifest),
            )
            timings["catalog_s"] = time.monotonic() - mark
        self._forget_old_manifests(manifest.version)
        timings["total_s"] = time.monotonic() - started
        changes_in = int(counts["changes"] or 0)
        upserts, deletes = int(counts["up"] or 0), int(counts["del"] or 0)
        return BatchResult(
            batch_id=batch_id,
            changes_in=changes_in,
            upserts=upserts,
            deletes=deletes,
            stale=changes_in - upserts - deletes,
            partitions_rewritten=len(affected),
            rows_in_table=manifest.rows,
            timings=timings,
        )

    # ------------------------------------------------------------ the batch

    def _held_keys(self, changes: DataFrame, manifest: Manifest) -> DataFrame | None:
        """What the target holds for the batch's keys, read from candidate partitions only."""
        candidates = self._candidate_partitions(changes, manifest)
        files = [
            self._key_file(path, name)
            for path in candidates
            for name in manifest.partitions[path].keys
        ]
        if not files:
            return None
        index = self._read(files, self._keys_root, self._key_schema(changes))
        renamed = index.select(
            *self._keys,
            F.col(SEQ).alias(f"{_HELD}_seq"),
            F.col(POS).alias(f"{_HELD}_pos"),
            F.col(_DELETED).alias(f"{_HELD}_deleted"),
            *[F.col(f"`{p}`").alias(f"{_OLD}{p}") for p in self._parts],
        )
        return renamed.join(changes.select(*self._keys).distinct(), self._keys, "left_semi")

    def _candidate_partitions(self, changes: DataFrame, manifest: Manifest) -> list[str]:
        ranged = [
            (path, e.min_key, e.max_key)
            for path, e in manifest.partitions.items()
            if e.keys and e.min_key is not None
        ]
        if not ranged:
            return []
        first = self._keys[0]
        key_type = changes.schema[first].dataType
        ranges = self._spark.createDataFrame(ranged, "path string, lo string, hi string").select(
            "path", F.col("lo").cast(key_type).alias("lo"), F.col("hi").cast(key_type).alias("hi")
        )
        probes = changes.select(F.col(f"`{first}`").alias("k")).distinct()
        hits = probes.join(
            F.broadcast(ranges), (F.col("k") >= F.col("lo")) & (F.col("k") <= F.col("hi"))
        )
        return sorted(str(r["path"]) for r in hits.select("path").distinct().collect())

    def _decide(self, changes: DataFrame, held: DataFrame | None) -> DataFrame:
        """Last change per key, with `__accepted` = newer than what the target holds."""
        latest = changes.transform(latest_per_key(self._keys))
        if held is None:
            held_cols = [
                F.lit(None).cast("string").alias(f"{_HELD}_seq"),
                F.lit(None).cast("string").alias(f"{_HELD}_pos"),
                F.lit(None).cast("boolean").alias(f"{_HELD}_deleted"),
                *[
                    F.lit(None).cast(changes.schema[p].dataType).alias(f"{_OLD}{p}")
                    for p in self._parts
                ],
            ]
            joined = latest.select("*", *held_cols)
        else:
            joined = latest.join(held, self._keys, "left")
        guard = newer_than(F.col(SEQ), F.col(POS), F.col(f"{_HELD}_seq"), F.col(f"{_HELD}_pos"))
        return joined.withColumn("__accepted", guard)

    def _affected_partitions(self, accepted: DataFrame) -> set[str]:
        if not self._parts:
            return {""}
        held = F.col(f"{_HELD}_pos").isNotNull()
        old = accepted.where(held).select(
            *[self._as_text(F.col(f"{_OLD}{p}")) for p in self._parts]
        )
        new = accepted.where(F.col(OP) != "D").select(
            *[self._as_text(F.col(p)) for p in self._parts]
        )
        orphan = accepted.where(~held & (F.col(OP) == "D")).select(
            *[self._as_text(F.col(p)) for p in self._parts]
        )
        values = old.unionAll(new).unionAll(orphan).distinct().collect()
        return {self._partition_path([row[i] for i in range(len(self._parts))]) for row in values}

    def _stage(
        self,
        accepted: DataFrame,
        *,
        previous: Manifest,
        affected: set[str],
        payload_schema: StructType,
        staging: str,
    ) -> None:
        """Write the new content of every affected partition (data and key index)."""
        existing = [p for p in sorted(affected) if p in previous.partitions]
        touched = accepted.select(*self._keys)
        held = F.col(f"{_HELD}_pos").isNotNull()

        data_files = [self._data_file(p, n) for p in existing for n in previous.partitions[p].data]
        carried = set(accepted.columns)
        upserts = accepted.where(F.col(OP) != "D").select(
            *[
                F.col(f"`{f.name}`")
                if f.name in carried
                else F.lit(None).cast(f.dataType).alias(f.name)
                for f in payload_schema.fields
            ]
        )
        new_data = upserts
        if data_files:
            old_data = self._read(data_files, self.path, payload_schema)
            new_data = old_data.join(touched, self._keys, "left_anti").unionByName(upserts)
        self._write(new_data, f"{staging}/data")

        key_schema = self._key_schema_from(payload_schema)
        index_cols = [*self._keys, SEQ, POS, _DELETED, *self._parts]
        new_keys = accepted.select(
            *self._keys,
            SEQ,
            POS,
            (F.col(OP) == "D").alias(_DELETED),
            *[
                F.when((F.col(OP) == "D") & held, F.col(f"{_OLD}{p}"))
                .when(F.col(OP) == "D", F.col(f"`{p}`"))
                .otherwise(F.col(f"`{p}`"))
                .alias(p)
                for p in self._parts
            ],
        )
        key_files = [self._key_file(p, n) for p in existing for n in previous.partitions[p].keys]
        if key_files:
            old_keys = self._read(key_files, self._keys_root, key_schema).select(*index_cols)
            new_keys = old_keys.join(touched, self._keys, "left_anti").unionByName(new_keys)
        self._write(new_keys, f"{staging}/keys")

    def _staged_entries(
        self, staging: str, affected: set[str], payload_schema: StructType
    ) -> dict[str, PartitionEntry]:
        """Counts, key ranges and file names of the staged partitions."""
        key_schema = self._key_schema_from(payload_schema)
        staged = (
            self._spark.read.schema(key_schema)
            .option("basePath", f"{staging}/keys")
            .parquet(f"{staging}/keys")
        )
        first = F.col(f"`{self._keys[0]}`")
        live = ~F.col(_DELETED)
        stats = staged.groupBy(*[self._as_text(F.col(p)).alias(p) for p in self._parts]).agg(
            F.sum(F.when(live, 1).otherwise(0)).alias("rows"),
            F.sum(F.when(live, 0).otherwise(1)).alias("tombstones"),
            F.min(first).cast("string").alias("lo"),
            F.max(first).cast("string").alias("hi"),
        )
        entries: dict[str, PartitionEntry] = {}
        for row in stats.collect():
            path = self._partition_path([row[p] for p in self._parts]) if self._parts else ""
            if path not in affected:
                continue
            entries[path] = PartitionEntry(
                data=tuple(
                    _parquet_names(self._storage.list_names(_join(f"{staging}/data", path)))
                ),
                keys=tuple(
                    _parquet_names(self._storage.list_names(_join(f"{staging}/keys", path)))
                ),
                rows=int(row["rows"]),
                tombstones=int(row["tombstones"]),
                min_key=row["lo"],
                max_key=row["hi"],
            )
        return entries

    # --------------------------------------------------------------- commit

    def _publish(self, manifest: Manifest) -> None:
        """Move a committed manifest's staged files into place; safe to repeat."""
        pending = manifest.pending
        if pending is None:
            return
        for path in pending.partitions:
            entry = manifest.partitions.get(path)
            for kind, root, wanted in (
                ("data", self.path, entry.data if entry else ()),
                ("keys", self._keys_root, entry.keys if entry else ()),
            ):
                folder = _join(root, path)
                staged = _join(f"{pending.staging}/{kind}", path)
                for name in wanted:
                    self._storage.move(f"{staged}/{name}", f"{folder}/{name}")
                crash_point("lake.mid_publish")
                present = self._storage.list_names(folder)
                for name in _parquet_names(present):
                    if name not in wanted:
                        self._storage.delete(f"{folder}/{name}")
                if path and not wanted and not _visible(self._storage.list_names(folder)):
                    self._storage.delete(folder, recursive=True)
        self._storage.write_text_atomic(self._applied_marker(manifest.version), "")
        self._storage.delete(pending.staging, recursive=True)

    def _forget_old_manifests(self, version: int) -> None:
        for old in self._versions():
            if old <= version - _KEEP_MANIFESTS:
                self._storage.delete(self._manifest_file(old))
                self._storage.delete(self._applied_marker(old))

    # -------------------------------------------------------------- helpers

    @property
    def _keys_root(self) -> str:
        return f"{self._state}/keys"

    def _versions(self) -> list[int]:
        names = self._storage.list_names(f"{self._state}/manifest")
        return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())

    def _manifest_file(self, version: int) -> str:
        return f"{self._state}/manifest/{version:020d}.json"

    def _applied_marker(self, version: int) -> str:
        return f"{self._state}/manifest/{version:020d}.applied"

    def _data_file(self, partition: str, name: str) -> str:
        return f"{_join(self.path, partition)}/{name}"

    def _key_file(self, partition: str, name: str) -> str:
        return f"{_join(self._keys_root, partition)}/{name}"

    def _key_schema(self, changes: DataFrame) -> StructType:
        return self._key_schema_from(changes.schema)

    def _key_schema_from(self, schema: StructType) -> StructType:
        return StructType(
            [schema[k] for k in self._keys]
            + [
                StructField(SEQ, StringType()),
                StructField(POS, StringType()),
                StructField(_DELETED, BooleanType()),
            ]
            + [schema[p] for p in self._parts]
        )

    def _read(self, files: Iterable[str], base: str, schema: StructType) -> DataFrame:
        return self._spark.read.schema(schema).option("basePath", base).parquet(*files)

    def _write(self, df: DataFrame, folder: str) -> None:
        writer_df = df.repartition(*[F.col(f"`{p}`") for p in self._parts]) if self._parts else df
        (
            writer_df.write.mode("overwrite")
            .option("maxRecordsPerFile", self._max_records)
            .partitionBy(*self._parts)
            .parquet(folder)
        )

    def _as_text(self, column: Column) -> Column:
        return column.cast("string")

    def _partition_path(self, values: Sequence[Any]) -> str:
        jvm: Any = self._spark.sparkContext._jvm
        escape = jvm.org.apache.spark.sql.catalyst.catalog.ExternalCatalogUtils
        return "/".join(
            str(escape.getPartitionPathString(name, None if v is None else str(v)))
            for name, v in zip(self._parts, values, strict=True)
        )


def _table_schema(recorded: str | None, batch: StructType) -> tuple[StructType, bool]:
    """The table's columns after this batch (recorded ones first, then the batch's new
    ones) and whether the batch added any. A column a batch lacks stays, read as NULL."""
    if recorded is None:
        return batch, False
    table = _schema(recorded)
    added = [f for f in batch.fields if f.name not in table.fieldNames()]
    return StructType([*table.fields, *added]), bool(added)


def _published(manifest: Manifest) -> set[str]:
    """Partitions with a published folder (a partition of tombstones only has none)."""
    return {path for path, entry in manifest.partitions.items() if entry.data}


def _schema(recorded: str) -> StructType:
    return StructType.fromJson(json.loads(recorded))


def _join(root: str, partition: str) -> str:
    return f"{root}/{partition}" if partition else root


def _parquet_names(names: Iterable[str]) -> list[str]:
    return [n for n in names if n.endswith(".parquet") and not n.startswith(("_", "."))]


def _visible(names: Iterable[str]) -> list[str]:
    return [n for n in names if not n.startswith(("_", "."))]

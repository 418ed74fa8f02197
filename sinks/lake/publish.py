"""Step 4 of a lake batch: move a committed manifest's staged files into place.

Safe to repeat: a restart after a crash mid-way (`recover`) moves what is left and
deletes what the commit no longer names. The driver moves the files of `_FILE_THREADS`
partitions at once: a few requests each, tens of milliseconds apiece on S3.
"""

from __future__ import annotations

from sinks.crash import crash_point
from sinks.lake.files import TableFiles, join, parquet_names, visible
from sinks.lake.manifest import Manifest
from sinks.parallel import in_parallel

__all__ = ["forget_old_manifests", "publish"]

_KEEP_MANIFESTS = 20
_FILE_THREADS = 16  # partitions whose files the driver moves at once


def publish(files: TableFiles, manifest: Manifest) -> None:
    """Move a committed manifest's staged files into place; safe to repeat."""
    pending = manifest.pending
    if pending is None:
        return
    paths = {path: path for path in pending.partitions}
    in_parallel(paths, lambda path: _publish_partition(files, manifest, path), _FILE_THREADS)
    files.storage.write_text_atomic(files.applied_marker(manifest.version), "")
    files.storage.delete(pending.staging, recursive=True)


def _publish_partition(files: TableFiles, manifest: Manifest, path: str) -> None:
    """Put one partition's staged files in place and remove those it no longer has."""
    assert manifest.pending is not None
    storage = files.storage
    entry = manifest.partitions.get(path)
    for kind, root, wanted in (
        ("data", files.path, entry.data if entry else ()),
        ("keys", files.keys_root, entry.keys if entry else ()),
    ):
        folder = join(root, path)
        staged = join(f"{manifest.pending.staging}/{kind}", path)
        for name in wanted:
            storage.move(f"{staged}/{name}", f"{folder}/{name}")
        crash_point("lake.mid_publish")
        present = storage.list_names(folder)
        for name in parquet_names(present):
            if name not in wanted:
                storage.delete(f"{folder}/{name}")
        if path and not wanted and not visible(storage.list_names(folder)):
            storage.delete(folder, recursive=True)


def forget_old_manifests(files: TableFiles, version: int) -> None:
    """Delete the manifests (and their marks) older than the last `_KEEP_MANIFESTS`."""
    for old in files.versions():
        if old <= version - _KEEP_MANIFESTS:
            files.storage.delete(files.manifest_file(old))
            files.storage.delete(files.applied_marker(old))

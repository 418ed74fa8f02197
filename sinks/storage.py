"""A thin edge over Hadoop's FileSystem, so the same code runs on file:// and s3a://.

The driver only lists, moves and deletes the few paths of affected partitions and
reads or writes small JSON documents; data itself is always read and written by Spark.

Object stores (S3 through S3A or EMRFS) have no atomic rename: a rename is a copy then a
delete. Nothing here needs one. A move is a step of a roll-forward that is safe to
repeat (each object appears whole when its copy completes), and a commit document is
written once under its final name (an S3 object is visible only when its upload
completes, never partially). Listings are consistent (S3 is strongly consistent).
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession

# File systems whose rename is a copy: commit documents are written in place instead.
_OBJECT_STORES = frozenset({"s3", "s3a", "s3n", "gs"})


class Storage:
    """Driver-side file operations on one file system."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        jvm: Any = spark.sparkContext._jvm
        self._jvm = jvm
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._root = jvm.org.apache.hadoop.fs.Path(root)
        self._fs = self._root.getFileSystem(conf)
        self.root = str(self._fs.makeQualified(self._root).toString())
        self._object_store = str(self._fs.getScheme()) in _OBJECT_STORES

    def _path(self, path: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(path)

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))

    def list_names(self, folder: str) -> list[str]:
        """Names of the entries of a folder; empty when it does not exist."""
        path = self._path(folder)
        if not self._fs.exists(path):
            return []
        return sorted(str(status.getPath().getName()) for status in self._fs.listStatus(path))

    def move(self, source: str, target: str) -> None:
        """Move a file, creating the target folder; a no-op when already moved."""
        src, dst = self._path(source), self._path(target)
        if not self._fs.exists(src):
            return
        if self._fs.exists(dst):
            self._fs.delete(src, False)
            return
        self._fs.mkdirs(dst.getParent())
        if not self._fs.rename(src, dst):
            raise OSError(f"could not move {source} to {target}")

    def delete(self, path: str, recursive: bool = False) -> None:
        self._fs.delete(self._path(path), recursive)

    def read_text(self, path: str) -> str:
        stream = self._fs.open(self._path(path))
        try:
            reader = self._jvm.java.io.BufferedReader(
                self._jvm.java.io.InputStreamReader(stream, "UTF-8")
            )
            lines = []
            line = reader.readLine()
            while line is not None:
                lines.append(str(line))
                line = reader.readLine()
            return "\n".join(lines)
        finally:
            stream.close()

    def write_text_atomic(self, path: str, text: str) -> None:
        """Create a small document that readers see whole or not at all; never overwrites.

        On a file system with atomic rename: write a temporary file, then rename it.
        On an object store: create the object under its final name with overwrite off,
        which fails if it exists and publishes it whole when the upload completes. The
        existence check and the upload are two requests, so two writers racing for the
        same name could both succeed: one writer per table, as the engines require.
        """
        final = self._path(path)
        if self._object_store:
            if self._fs.exists(final):
                raise FileExistsError(path)
            self._write(final, text, overwrite=False)
            return
        temp = self._path(f"{path}.tmp")
        self._write(temp, text, overwrite=True)
        if self._fs.exists(final):
            self._fs.delete(temp, False)
            raise FileExistsError(path)
        if not self._fs.rename(temp, final):
            raise OSError(f"could not commit {path}")

    def _write(self, path: Any, text: str, *, overwrite: bool) -> None:
        stream = self._fs.create(path, overwrite)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()

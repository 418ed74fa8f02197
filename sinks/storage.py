"""A thin edge over Hadoop's FileSystem, so the same code runs on file:// and s3a://.

The driver only lists, moves and deletes the few paths of affected partitions and
reads or writes small JSON documents; data itself is always read and written by Spark.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession


class Storage:
    """Driver-side file operations on one file system."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        jvm: Any = spark.sparkContext._jvm
        self._jvm = jvm
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._root = jvm.org.apache.hadoop.fs.Path(root)
        self._fs = self._root.getFileSystem(conf)
        self.root = str(self._fs.makeQualified(self._root).toString())

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
        """Create a small document that readers see whole or not at all; never overwrites."""
        final = self._path(path)
        temp = self._path(f"{path}.tmp")
        stream = self._fs.create(temp, True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()
        if self._fs.exists(final):
            self._fs.delete(temp, False)
            raise FileExistsError(path)
        if not self._fs.rename(temp, final):
            raise OSError(f"could not commit {path}")

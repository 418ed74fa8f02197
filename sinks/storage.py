"""A thin edge over Hadoop's FileSystem, so the same code runs on file:// and s3a://.

The driver only lists, moves and deletes the few paths of affected partitions and
reads or writes small JSON documents; data itself is always read and written by Spark (its
tasks write a lake's new tables with Arrow: `ArrowFiles` says where).

Object stores (S3 through S3A or EMRFS) have no atomic rename: a rename is a copy then a
delete. Nothing here needs one. A move is a step of a roll-forward that is safe to
repeat (each object appears whole when its copy completes), and a commit document is
written once under its final name (an S3 object is visible only when its upload
completes, never partially). Listings are consistent (S3 is strongly consistent).

On the local file system the same operations go through Python's `os` module instead of
one JVM round trip per call: a lake batch lists and moves a few files in each of
hundreds of partitions, which cost 60-110 ms a partition through py4j (the embedded
demo's first batch spent 28 of its 72 s there). Hadoop's local file system keeps a
`.<name>.crc` checksum beside each file it writes; listings hide them as Hadoop's do,
and a move or delete takes a file's checksum along.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from aws.clients import arrow_s3, arrow_s3_options, bucket_region

# File systems whose rename is a copy: commit documents are written in place instead.
_OBJECT_STORES = frozenset({"s3", "s3a", "s3n", "gs"})
_S3 = frozenset({"s3", "s3a", "s3n"})


@dataclass(frozen=True)
class ArrowFiles:
    """A folder as Spark's tasks write it with Arrow: its path on the local file system, or
    `bucket/key` on S3 with the options of Arrow's S3 file system (aws/clients.py)."""

    path: str
    s3: Mapping[str, str] | None = field(default=None, repr=False)  # None: local

    def filesystem(self) -> Any:
        """Arrow's file system of the folder (built where it is used: in the tasks)."""
        if self.s3 is None:
            from pyarrow import fs

            return fs.LocalFileSystem()
        return arrow_s3(self.s3)


class Storage:
    """Driver-side file operations under one root, on the file system its scheme names.

    The backend is chosen once: `LocalFiles` for `file:` and plain paths, `HadoopFiles`
    for every other scheme (s3a, hdfs, ...).
    """

    def __init__(self, spark: SparkSession, root: str) -> None:
        jvm: Any = spark.sparkContext._jvm
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        path = jvm.org.apache.hadoop.fs.Path(root)
        fs = path.getFileSystem(conf)
        self.root = str(fs.makeQualified(path).toString())
        scheme = str(fs.getScheme())
        self._scheme, self._conf = scheme, conf
        self._files: LocalFiles | HadoopFiles
        if scheme == "file":  # relative paths are relative to the JVM's working folder
            self._files = LocalFiles(str(jvm.java.lang.System.getProperty("user.dir")))
        else:
            self._files = HadoopFiles(jvm, fs, object_store=scheme in _OBJECT_STORES)

    def exists(self, path: str) -> bool:
        return self._files.exists(path)

    def arrow_files(self, path: str) -> ArrowFiles | None:
        """The folder `path` as Arrow writes it (local or S3); None on any other file system."""
        if isinstance(self._files, LocalFiles):
            return ArrowFiles(self._files.local(path))
        if self._scheme not in _S3:
            return None
        _, _, bucket_and_key = path.partition("://")
        options = arrow_s3_options(self._conf.get)
        if not {"region", "endpoint_override"} & set(options):  # AWS's S3, region unsaid
            region = bucket_region(bucket_and_key.split("/", 1)[0])
            options |= {"region": region} if region else {}
        return ArrowFiles(bucket_and_key, options)

    def list_names(self, folder: str) -> list[str]:
        """Names of the entries of a folder (a file lists itself); empty when it does
        not exist."""
        return self._files.list_names(folder)

    def list_files(self, folder: str) -> list[tuple[str, int]]:
        """(path, modification time in unix ms) of every file under a folder, sub-folders
        included (checksums hidden); empty when it does not exist."""
        return self._files.list_files(folder)

    def list_tree(self, folder: str) -> dict[str, list[str]]:
        """The names of the files under a folder, by the sub-folder that holds them
        (`year=2020/month=5`, "" for the folder itself; checksums hidden), from one
        recursive listing: on an object store, a few paged requests for the whole tree
        instead of one per sub-folder. Empty when the folder does not exist."""
        return self._files.list_tree(folder)

    def move(self, source: str, target: str) -> None:
        """Move a file, creating the target folder; a no-op when already moved."""
        self._files.move(source, target)

    def delete(self, path: str, recursive: bool = False) -> None:
        """Delete a file, or a folder (with what it holds only if `recursive`)."""
        self._files.delete(path, recursive)

    def read_text(self, path: str) -> str:
        """A small document's text, line ends unified to "\\n", the last one dropped."""
        return self._files.read_text(path)

    def write_text_atomic(self, path: str, text: str) -> None:
        """Create a small document that readers see whole or not at all; never
        overwrites: `FileExistsError` when the name is taken."""
        self._files.write_text_atomic(path, text)


class HadoopFiles:
    """`Storage`'s operations through Hadoop's FileSystem, one JVM call each."""

    def __init__(self, jvm: Any, fs: Any, *, object_store: bool) -> None:
        self._jvm = jvm
        self._fs = fs
        self._object_store = object_store

    def _path(self, path: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(path)

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))

    def list_names(self, folder: str) -> list[str]:
        path = self._path(folder)
        if not self._fs.exists(path):
            return []
        return sorted(str(status.getPath().getName()) for status in self._fs.listStatus(path))

    def list_files(self, folder: str) -> list[tuple[str, int]]:
        path = self._path(folder)
        if not self._fs.exists(path):
            return []
        files = []
        found = self._fs.listFiles(path, True)
        while found.hasNext():
            status = found.next()
            files.append((str(status.getPath().toString()), int(status.getModificationTime())))
        return sorted(files)

    def list_tree(self, folder: str) -> dict[str, list[str]]:
        root = self._fs.makeQualified(self._path(folder))
        if not self._fs.exists(root):
            return {}
        tree: dict[str, list[str]] = {}
        found = self._fs.listFiles(root, True)
        while found.hasNext():
            path = found.next().getPath()
            parts, parent = [], path.getParent()
            while parent is not None and not parent.equals(root):
                parts.append(str(parent.getName()))
                parent = parent.getParent()
            tree.setdefault("/".join(reversed(parts)), []).append(str(path.getName()))
        return {sub: sorted(names) for sub, names in tree.items()}

    def move(self, source: str, target: str) -> None:
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
        """On a file system with atomic rename: write a temporary file, then rename it.
        On an object store: create the object under its final name with overwrite off,
        which fails if it exists and publishes it whole when the upload completes. The
        existence check and the upload are two requests, so two writers racing for the
        same name could both succeed: one writer per table, as the engines require."""
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


_CHECKSUM = re.compile(r"^\..*\.crc$")


class LocalFiles:
    """`Storage`'s operations on local paths (`file:` URIs or plain), with `os`."""

    def __init__(self, cwd: str) -> None:
        self._cwd = cwd

    def local(self, path: str) -> str:
        return self._os(path)

    def _os(self, path: str) -> str:
        for prefix in ("file://", "file:"):
            if path.startswith(prefix):
                path = path[len(prefix) :]
                break
        return os.path.join(self._cwd, path)  # an absolute path ignores the first part

    def exists(self, path: str) -> bool:
        return os.path.exists(self._os(path))

    def list_names(self, folder: str) -> list[str]:
        local = self._os(folder)
        if os.path.isfile(local):  # as Hadoop: a file lists itself
            return [os.path.basename(local)]
        try:
            names = os.listdir(local)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if not _CHECKSUM.match(n))

    def list_files(self, folder: str) -> list[tuple[str, int]]:
        files = []
        for parent, _, names in os.walk(self._os(folder)):
            for name in names:
                if not _CHECKSUM.match(name):
                    path = os.path.join(parent, name)
                    files.append((path, int(os.stat(path).st_mtime * 1000)))
        return sorted(files)

    def list_tree(self, folder: str) -> dict[str, list[str]]:
        base = self._os(folder)
        tree = {}
        for parent, _, names in os.walk(base):
            files = sorted(n for n in names if not _CHECKSUM.match(n))
            if files:
                sub = os.path.relpath(parent, base)
                tree["" if sub == "." else sub.replace(os.sep, "/")] = files
        return tree

    def move(self, source: str, target: str) -> None:
        src, dst = self._os(source), self._os(target)
        if not os.path.exists(src):
            return
        if os.path.exists(dst):
            self._remove(src)
            return
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.rename(src, dst)
        if os.path.exists(_checksum(src)):
            os.replace(_checksum(src), _checksum(dst))

    def delete(self, path: str, recursive: bool = False) -> None:
        local = self._os(path)
        if os.path.isdir(local) and not os.path.islink(local):
            if recursive:
                shutil.rmtree(local, ignore_errors=True)
            else:
                os.rmdir(local)  # as Hadoop: a folder with files needs `recursive`
        else:
            self._remove(local)

    def read_text(self, path: str) -> str:
        with open(self._os(path), encoding="utf-8", newline="") as file:
            text = file.read()
        # As a line reader joined with "\n": line ends unified, the last one dropped.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text[:-1] if text.endswith("\n") else text

    def write_text_atomic(self, path: str, text: str) -> None:
        """Write a temporary file, then link it under its final name: `link` fails when
        the name exists, so a document is never overwritten, and appears whole."""
        final = self._os(path)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        temp = f"{final}.{os.getpid()}.tmp"
        with open(temp, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        try:
            os.link(temp, final)
        except FileExistsError:
            raise FileExistsError(path) from None
        except OSError:  # a file system without hard links: check, then rename
            if os.path.exists(final):
                raise FileExistsError(path) from None
            os.rename(temp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temp)

    @staticmethod
    def _remove(local: str) -> None:
        for name in (local, _checksum(local)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(name)


def _checksum(local: str) -> str:
    """Where Hadoop's local file system keeps a file's checksum."""
    folder, name = os.path.split(local)
    return os.path.join(folder, f".{name}.crc")

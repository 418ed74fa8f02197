"""The local file system of local runs (jvm/): Hadoop's, with permissions set in-process.

Each test does the same operations through Hadoop's stock local file system and through
the session's, and compares what lands on disk: the class changes how permissions are
set (no `chmod` process per file), never which ones.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from runtime.session import LOCAL_FS, local_fs_settings

_FS_CLASS = LOCAL_FS["spark.hadoop.fs.file.impl"]
_FC_CLASS = LOCAL_FS["spark.hadoop.fs.AbstractFileSystem.file.impl"]


def _jvm(spark: SparkSession) -> Any:
    return spark.sparkContext._jvm


def _session_fs(spark: SparkSession) -> Any:
    hadoop = _jvm(spark).org.apache.hadoop
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    return hadoop.fs.FileSystem.getLocal(conf)


def _stock_fs(spark: SparkSession) -> Any:
    hadoop = _jvm(spark).org.apache.hadoop
    fs = hadoop.fs.LocalFileSystem()
    fs.initialize(hadoop.fs.FsConstants.LOCAL_FS_URI, hadoop.conf.Configuration())
    return fs


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_local_test_session_uses_it_for_files_and_for_file_contexts(
    spark: SparkSession,
) -> None:
    assert os.environ.get("STREAM_CDC_LOCAL_FS_JAR"), "scripts/bootstrap.sh builds its jar"
    hadoop = _jvm(spark).org.apache.hadoop
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    assert _session_fs(spark).getClass().getName() == _FS_CLASS
    context = hadoop.fs.FileContext.getLocalFSFileContext(conf)
    assert context.getDefaultFileSystem().getClass().getName() == _FC_CLASS


@pytest.mark.parametrize("mode", [0o640, 0o600, 0o755, 0o777, 0o000, 0o1777])
def test_set_permission_gives_the_bits_hadoops_chmod_gives(
    spark: SparkSession, tmp_path: Path, mode: int
) -> None:
    permission = _jvm(spark).org.apache.hadoop.fs.permission.FsPermission
    results = []
    for name, fs in (("stock", _stock_fs(spark)), ("ours", _session_fs(spark))):
        folder = tmp_path / name
        folder.mkdir()
        path = _jvm(spark).org.apache.hadoop.fs.Path(str(folder))
        fs.setPermission(path, permission(mode))
        results.append(stat.S_IMODE(os.stat(folder).st_mode))
        folder.chmod(0o755)  # tmp_path's cleanup needs to enter it
    assert results[0] == results[1] == mode


def test_files_and_folders_created_get_the_modes_hadoop_gives(
    spark: SparkSession, tmp_path: Path
) -> None:
    hadoop = _jvm(spark).org.apache.hadoop
    permission = hadoop.fs.permission.FsPermission
    seen = {}
    for name, fs in (("stock", _stock_fs(spark)), ("ours", _session_fs(spark))):
        root = tmp_path / name
        made = hadoop.fs.Path(str(root / "a" / "b"))
        assert fs.mkdirs(made, permission(0o750))
        out = fs.create(hadoop.fs.Path(str(root / "a" / "b" / "f.bin")), True)
        out.write(bytearray(b"x"))
        out.close()
        seen[name] = {str(p.relative_to(root)): _mode(p) for p in sorted(root.rglob("*"))}
    assert seen["ours"] == seen["stock"]
    assert set(seen["ours"]) == {"a", "a/b", "a/b/f.bin", "a/b/.f.bin.crc"}


def test_a_file_context_writes_and_renames_with_checksums_as_hadoops_does(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Delta's log store commits through FileContext: create a temporary file, rename it."""
    hadoop = _jvm(spark).org.apache.hadoop
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    context = hadoop.fs.FileContext.getLocalFSFileContext(conf)
    temp = hadoop.fs.Path(str(tmp_path / "log" / ".0.json.tmp"))
    final = hadoop.fs.Path(str(tmp_path / "log" / "0.json"))
    create = _jvm(spark).java.util.EnumSet.of(hadoop.fs.CreateFlag.CREATE)
    gateway: Any = spark.sparkContext._gateway
    options = gateway.new_array(hadoop.fs.Options.CreateOpts, 1)
    options[0] = hadoop.fs.Options.CreateOpts.createParent()
    out = context.create(temp, create, options)
    out.write(bytearray(b"{}\n"))
    out.close()
    overwrite = gateway.new_array(hadoop.fs.Options.Rename, 1)
    overwrite[0] = hadoop.fs.Options.Rename.OVERWRITE
    context.rename(temp, final, overwrite)
    names = sorted(p.name for p in (tmp_path / "log").iterdir())
    assert names == [".0.json.crc", "0.json"]
    assert (tmp_path / "log" / "0.json").read_bytes() == b"{}\n"
    assert _mode(tmp_path / "log" / "0.json") == 0o644 & ~_umask()


def _link_status(fs: Any, path: Any) -> tuple[object, ...]:
    """What getFileLinkStatus says of `path`, or whether it raised FileNotFoundException."""
    try:
        status = fs.getFileLinkStatus(path)
    except Exception as e:  # py4j wraps the JVM's exception
        return ("raised", "FileNotFoundException" in str(e))
    link = status.getSymlink().toString() if status.isSymlink() else None
    return (status.isSymlink(), status.isDirectory(), status.getLen(), link)


def test_link_status_is_what_hadoops_readlink_gives(spark: SparkSession, tmp_path: Path) -> None:
    """FileContext's rename asks it of both names of every Delta commit; Hadoop answers by
    starting a `readlink` process, ours reads the link in-process: the same answers for
    files, folders, links, dangling links, missing paths, and names with a scheme."""
    hadoop_path = _jvm(spark).org.apache.hadoop.fs.Path
    (tmp_path / "f").write_bytes(b"12345")
    (tmp_path / "d").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "f")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    names = ["f", "d", "link", "dangling", "missing"]
    paths = [str(tmp_path / n) for n in names] + [f"file:{tmp_path / n}" for n in names]
    ours, stock = _session_fs(spark).getRawFileSystem(), _stock_fs(spark).getRawFileSystem()
    declared = [m.getName() for m in ours.getClass().getDeclaredMethods()]
    assert "getFileLinkStatus" in declared  # answered by our class, not Hadoop's fork
    seen = {
        p: (_link_status(ours, hadoop_path(p)), _link_status(stock, hadoop_path(p))) for p in paths
    }
    assert all(mine == theirs for mine, theirs in seen.values()), seen
    assert seen[str(tmp_path / "link")][0][0] is True  # a link is seen as one
    assert seen[str(tmp_path / "f")][0] == (False, False, 5, None)
    assert seen[str(tmp_path / "missing")][0] == ("raised", True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_only_a_local_driver_with_the_jar_gets_it() -> None:
    env = {"STREAM_CDC_LOCAL_FS_JAR": "/opt/fs.jar"}
    expected = {"spark.driver.extraClassPath": "/opt/fs.jar", **LOCAL_FS}
    assert local_fs_settings("local[2]", env) == expected
    assert local_fs_settings("local", env) == expected
    assert local_fs_settings("local[*]", env) == expected
    assert local_fs_settings("local-cluster[2,1,1024]", env) == {}  # executors elsewhere
    assert local_fs_settings("yarn", env) == {}
    assert local_fs_settings("local[2]", {}) == {}  # no jar built
    assert local_fs_settings("local[2]", {**env, "STREAM_CDC_LOCAL_FS": "0"}) == {}

"""spark-submit.sh gives a local job the in-process local file system (docs/engines.md,
*Local disks*) and the JVM options (HotSpot compiling long methods), with the same settings
the local sessions take from runtime/session.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from runtime.session import JVM_OPTIONS, LOCAL_FS
from tests.e2e.launch import LAUNCHER

_APP = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
jvm, conf = spark.sparkContext._jvm, spark.sparkContext._jsc.hadoopConfiguration()
files = jvm.org.apache.hadoop.fs.FileSystem.getLocal(conf).getClass().getName()
context = jvm.org.apache.hadoop.fs.FileContext.getLocalFSFileContext(conf)
print("FS", files, context.getDefaultFileSystem().getClass().getName())
bean = jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
print("JVM", " ".join(str(a) for a in bean.getInputArguments()))
print("EXECUTORS", spark.sparkContext.getConf().get("spark.executor.extraJavaOptions", ""))
spark.stop()
"""


def _launched(tmp_path: Path, **env: str) -> dict[str, list[str]]:
    """What the app printed: its first word, the rest split."""
    app = tmp_path / "which_fs.py"
    app.write_text(_APP)
    done = subprocess.run(
        [str(LAUNCHER), str(app)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [x.split() for x in done.stdout.splitlines() if x.split()]
    return {words[0]: words[1:] for words in lines if words[0] in ("FS", "JVM", "EXECUTORS")}


def _classes(tmp_path: Path, **env: str) -> list[str]:
    return _launched(tmp_path, **env)["FS"]


def test_a_local_launch_uses_the_file_systems_the_sessions_name(tmp_path: Path) -> None:
    assert _classes(tmp_path) == [
        LOCAL_FS["spark.hadoop.fs.file.impl"],
        LOCAL_FS["spark.hadoop.fs.AbstractFileSystem.file.impl"],
    ]


def test_turned_off_the_launch_keeps_the_stock_ones(tmp_path: Path) -> None:
    files, context = _classes(tmp_path, STREAM_CDC_LOCAL_FS="0")
    # Spark's jars register Hive's ProxyLocalFileSystem, a LocalFileSystem, for file:
    assert files != LOCAL_FS["spark.hadoop.fs.file.impl"]
    assert files.endswith("LocalFileSystem")
    assert context == "org.apache.hadoop.fs.local.LocalFs"


def test_a_launch_has_hotspot_compile_the_long_methods_spark_generates(tmp_path: Path) -> None:
    """Spark compiles Debezium's decoding into a method HotSpot would otherwise interpret
    (tests/unit/test_session.py): the driver's JVM and the executors' get the option."""
    printed = _launched(tmp_path)
    assert JVM_OPTIONS in printed["JVM"]
    assert JVM_OPTIONS in printed["EXECUTORS"]

"""Storage on the local file system: Python's `os`, seen by Spark and Hadoop as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from sinks.storage import HadoopFiles, Storage


def _hadoop_names(spark: SparkSession, folder: Path) -> list[str]:
    """What Hadoop's own local file system lists in a folder."""
    jvm: Any = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(str(folder))
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return sorted(str(s.getPath().getName()) for s in fs.listStatus(path))


def test_files_spark_wrote_are_listed_moved_and_deleted_with_their_checksums(
    spark: SparkSession, tmp_path: Path
) -> None:
    written = tmp_path / "written"
    spark.range(3).coalesce(1).write.parquet(str(written))
    storage = Storage(spark, str(tmp_path))
    (name,) = [n for n in storage.list_names(f"file:{written}") if n.endswith(".parquet")]
    assert (written / f".{name}.crc").exists(), "Hadoop wrote a checksum beside the file"

    assert storage.list_names(str(written)) == _hadoop_names(spark, written)
    storage.move(f"file:{written}/{name}", f"file:{tmp_path}/moved/{name}")

    assert sorted(p.name for p in (tmp_path / "moved").iterdir()) == [f".{name}.crc", name]
    assert spark.read.parquet(str(tmp_path / "moved")).count() == 3  # its checksum still fits
    storage.delete(f"file:{tmp_path}/moved/{name}")
    assert list((tmp_path / "moved").iterdir()) == []


def test_a_move_already_done_or_of_a_missing_file_changes_nothing(
    spark: SparkSession, tmp_path: Path
) -> None:
    storage = Storage(spark, str(tmp_path))
    (tmp_path / "a").write_text("new")
    (tmp_path / "b").write_text("moved before")

    storage.move(str(tmp_path / "a"), str(tmp_path / "b"))  # a roll-forward repeated
    storage.move(str(tmp_path / "gone"), str(tmp_path / "c"))

    assert not (tmp_path / "a").exists() and (tmp_path / "b").read_text() == "moved before"
    assert not (tmp_path / "c").exists()


def test_a_document_is_written_once_and_read_back_as_a_line_reader_joins_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    storage = Storage(spark, str(tmp_path))
    document = f"file:{tmp_path}/manifest/00001.json"
    storage.write_text_atomic(document, '{"version": 1}\n{"more": 2}\n')

    assert storage.read_text(document) == '{"version": 1}\n{"more": 2}'
    with pytest.raises(FileExistsError):
        storage.write_text_atomic(document, "{}")
    assert storage.read_text(document) == '{"version": 1}\n{"more": 2}'
    assert storage.list_names(f"file:{tmp_path}/manifest") == ["00001.json"]


def test_relative_paths_are_relative_to_the_working_folder_and_missing_ones_list_empty(
    spark: SparkSession, tmp_path: Path
) -> None:
    storage = Storage(spark, "work")
    assert storage.root == f"file:{Path.cwd() / 'work'}"
    assert storage.list_names(f"{tmp_path}/nothing-here") == []
    assert not storage.exists(f"{tmp_path}/nothing-here")
    storage.delete(f"{tmp_path}/nothing-here", recursive=True)  # no error


def test_files_are_listed_recursively_with_their_times_as_hadoop_lists_them(
    spark: SparkSession, tmp_path: Path
) -> None:
    spark.range(3).coalesce(1).write.parquet(str(tmp_path / "a" / "b"))
    (tmp_path / "top.csv").write_text("x\n", encoding="utf-8")
    storage = Storage(spark, str(tmp_path))

    listed = storage.list_files(str(tmp_path))
    jvm: Any = spark.sparkContext._jvm
    root = jvm.org.apache.hadoop.fs.Path(str(tmp_path))
    found = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).listFiles(root, True)
    hadoop = []
    while found.hasNext():
        status = found.next()
        name = str(status.getPath().getName())
        if not name.endswith(".crc"):
            path = str(status.getPath().toUri().getPath())
            hadoop.append((path, int(status.getModificationTime())))
    assert [p for p, _ in listed] == sorted(p for p, _ in hadoop)
    assert all(abs(a - b) < 1000 for (_, a), (_, b) in zip(listed, sorted(hadoop), strict=True))
    assert f"{tmp_path}/top.csv" in [p for p, _ in listed]
    assert storage.list_files(str(tmp_path / "missing")) == []


def test_a_tree_is_listed_by_sub_folder_in_one_walk_as_each_folder_lists_alone(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Partition folders with names Spark escapes, an empty one, nested levels: the tree
    holds each folder's files as listing that folder alone does, on `os` and on Hadoop."""
    rows = [(1, "a:b c", 1), (2, "a:b c", 2), (3, "plain", 1), (4, None, 1)]
    frame = spark.createDataFrame(rows, "id int, name string, day int")
    frame.write.partitionBy("name", "day").parquet(str(tmp_path / "t"))
    (tmp_path / "t" / "empty").mkdir()
    storage = Storage(spark, str(tmp_path))

    jvm: Any = spark.sparkContext._jvm
    root = jvm.org.apache.hadoop.fs.Path(str(tmp_path))
    fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    hadoop = HadoopFiles(jvm, fs, object_store=False)
    for files in (storage, hadoop):
        tree = files.list_tree(f"file:{tmp_path}/t")
        folders = [f"name={n}/day={d}" for n, d in (("plain", 1),)]
        assert set(folders) <= set(tree)
        assert len([f for f in tree if f.startswith("name=")]) == 4  # one a partition
        for folder, names in tree.items():
            alone = storage.list_names(
                f"file:{tmp_path}/t/{folder}" if folder else str(tmp_path / "t")
            )
            assert names == [n for n in alone if not (tmp_path / "t" / folder / n).is_dir()]
            assert not any(n.endswith(".crc") for n in names)
        assert "empty" not in tree and tree[""] == ["_SUCCESS"]
    assert storage.list_tree(str(tmp_path / "missing")) == {}
    assert hadoop.list_tree(f"file:{tmp_path}/missing") == {}

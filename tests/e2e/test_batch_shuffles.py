"""A micro-batch's shuffles are sized to its records (runtime/batch.py
`shuffle_partitions`): a small batch runs each shuffle in one task per core, not in the
session's setting (4 per core by default); only routing, which runs before the batch's
size is known, keeps the setting. The
stream's session plans without adaptive execution, so nothing else would size them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

from config import JobConfig
from runtime.runner import run
from runtime.sizing import ROWS_PER_TASK, shuffle_partitions

SETTING = 12  # the session's shuffle partitions during the run: more than the cores


def job(tmp_path: Path) -> JobConfig:
    return JobConfig.model_validate(
        {
            "name": "shuffles",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": {"path": str(tmp_path / "landing"), "format": "dms-csv"},
            "tables": [
                {
                    "name": "orders",
                    "source_schema": "shop",
                    "keys": ["id"],
                    "columns": [
                        {"name": "id", "type": "int"},
                        {"name": "qty", "type": "int"},
                    ],
                }
            ],
            "target": {"path": str(tmp_path / "lake")},
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )


def stages(spark: SparkSession) -> list[tuple[int, int]]:
    """(id, tasks) of the stages of every job Spark's status store keeps, whatever their
    job group (the stream runs its batches' jobs in a group of its own)."""
    context = spark.sparkContext
    jobs = context._jsc.sc().statusStore().jobsList(None)
    found = []
    for i in range(jobs.size()):
        ids = jobs.apply(i).stageIds()
        for j in range(ids.size()):
            info = context.statusTracker().getStageInfo(int(ids.apply(j)))
            if info is not None:
                found.append((int(info.stageId), int(info.numTasks)))
    return found


@contextmanager
def shuffle_setting(spark: SparkSession, partitions: int) -> Iterator[None]:
    before = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    try:
        yield
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", str(before))


def test_a_small_batch_shuffles_in_one_task_per_core(spark: SparkSession, tmp_path: Path) -> None:
    folder = tmp_path / "landing" / "shop" / "orders"
    folder.mkdir(parents=True)
    (folder / "LOAD00000001.csv").write_text("1,5\n2,6\n3,7\n", encoding="utf-8")
    (folder / "20240101-000000000.csv").write_text("U,1,9\nD,2,6\nI,4,1\n", encoding="utf-8")
    before = {stage_id for stage_id, _ in stages(spark)}

    with shuffle_setting(spark, SETTING):
        outcome = run(spark, job(tmp_path), once=True)

    assert outcome.errors == []
    rows = spark.read.parquet(str(tmp_path / "lake" / "orders")).orderBy("id").collect()
    assert [(r["id"], r["qty"]) for r in rows] == [(1, 9), (3, 7), (4, 1)]
    tasks = [n for stage_id, n in stages(spark) if stage_id not in before]
    cores = spark.sparkContext.defaultParallelism
    assert tasks, "the run ran no Spark stage"
    assert tasks.count(SETTING) == 1  # routing's shuffle, before the records are counted
    assert max(n for n in tasks if n != SETTING) <= cores < SETTING  # every other one


def test_shuffle_partitions_follow_the_batchs_records() -> None:
    assert shuffle_partitions(6, cores=2, ceiling=8) == 2  # one task per core at least
    assert shuffle_partitions(5 * ROWS_PER_TASK + 1, cores=2, ceiling=8) == 6
    assert shuffle_partitions(10**9, cores=2, ceiling=8) == 8  # never above the setting
    assert shuffle_partitions(6, cores=4, ceiling=2) == 2  # a setting below the cores wins
    assert shuffle_partitions(0, cores=1, ceiling=1) == 1

"""Where a source's query keeps its checkpoint, and what to do with an older layout.

One query per source: its checkpoint is `<checkpoint>/source` (a table with its own
landing folder: `<checkpoint>/source-<table>`). Versions before whole-database mode ran
one query per table, each with `<checkpoint>/<table>`. Such a checkpoint cannot be
carried over: the job refuses to start and says exactly how to continue, from the time
the old job last committed (changes read again are skipped as stale by every engine).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from pyspark.sql import SparkSession

from config import ConfigError, FilesSource, JobConfig
from sinks.storage import Storage

__all__ = ["refuse_per_table_checkpoints", "source_checkpoint"]

_MARGIN = dt.timedelta(minutes=5)  # read again a little before the last commit: no gap


def source_checkpoint(config: JobConfig, table: str | None = None) -> str:
    """The checkpoint of the source's query (or of a table's own landing folder)."""
    root = config.checkpoint.rstrip("/")
    return f"{root}/source" if table is None else f"{root}/source-{table}"


def refuse_per_table_checkpoints(
    spark: SparkSession, config: JobConfig, tables: Sequence[str]
) -> None:
    """A ConfigError when `checkpoint` holds per-table checkpoints and no source one."""
    root = config.checkpoint.rstrip("/")
    storage = Storage(spark, root)
    if storage.list_names(f"{source_checkpoint(config)}/offsets"):
        return
    old = [t for t in tables if storage.list_names(f"{root}/{t}/offsets")]
    if not old:
        return
    last = [_last_commit(storage, f"{root}/{t}") for t in old]
    times = [t for t in last if t is not None]
    resume = "--set checkpoint=" + root + "-v2"
    if isinstance(config.source, FilesSource):
        how = (
            f"start with a new checkpoint ({resume}): it reads every landing file again, "
            "and the changes the tables already hold are skipped as stale"
        )
    else:
        since = (min(times) - _MARGIN) if times else None
        at = since.isoformat() if since else "<a time before the old job's last batch>"
        how = (
            f"start with a new checkpoint from just before the old job's last batch: "
            f"{resume} --set source.starting_timestamp={at} (what is read again is skipped "
            "as stale)"
        )
    raise ConfigError(
        f"checkpoint: {root} holds one checkpoint per table ({', '.join(old)}), written by a "
        "version that ran one query per table; this version reads each source once, with "
        f"its checkpoint in {source_checkpoint(config)}. To carry on, {how}. Keep the old "
        "checkpoint until the new job has caught up."
    )


def _last_commit(storage: Storage, checkpoint: str) -> dt.datetime | None:
    """When the last committed batch of an old checkpoint was planned."""
    commits = [int(n) for n in storage.list_names(f"{checkpoint}/commits") if n.isdigit()]
    if not commits:
        return None
    text = storage.read_text(f"{checkpoint}/offsets/{max(commits)}")
    lines = text.splitlines()
    if len(lines) < 2:
        return None
    millis = json.loads(lines[1]).get("batchTimestampMs")
    return None if millis is None else dt.datetime.fromtimestamp(millis / 1000, dt.UTC)

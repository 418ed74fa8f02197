"""An older per-table checkpoint is refused with what to do, never silently re-read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from config import ConfigError, load_config
from runtime.checkpoints import refuse_per_table_checkpoints, source_checkpoint

REPO = Path(__file__).resolve().parents[2]


def old_checkpoint(root: Path, table: str, batches: int, millis: int) -> None:
    """What Spark left for one table's query: offsets and commits of `batches` batches."""
    for n in range(batches):
        offsets = root / table / "offsets"
        offsets.mkdir(parents=True, exist_ok=True)
        meta = {"batchWatermarkMs": 0, "batchTimestampMs": millis + n * 1000}
        (offsets / str(n)).write_text(f"v1\n{json.dumps(meta)}\n{{}}\n", encoding="utf-8")
        (root / table / "commits").mkdir(exist_ok=True)
        (root / table / "commits" / str(n)).write_text("v1\n{}\n", encoding="utf-8")


def test_a_per_table_kafka_checkpoint_is_refused_with_the_time_to_start_from(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = load_config(REPO / "conf" / "sports.yaml", [f"checkpoint={tmp_path}"])
    old_checkpoint(tmp_path, "customer", batches=3, millis=1_764_000_000_000)
    old_checkpoint(tmp_path, "ticket", batches=1, millis=1_764_000_100_000)

    with pytest.raises(ConfigError) as refused:
        refuse_per_table_checkpoints(spark, config, ["customer", "ticket", "sport_event"])

    message = str(refused.value)
    assert "one checkpoint per table (customer, ticket)" in message
    assert f"--set checkpoint={tmp_path}-v2" in message
    # 5 minutes before the earliest last batch (customer's batch 2 at ...002000 ms).
    assert "--set source.starting_timestamp=2025-11-24T15:55:02+00:00" in message


def test_a_per_table_files_checkpoint_is_refused_and_told_to_read_again(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = load_config(REPO / "conf" / "demo.yaml", [f"checkpoint={tmp_path}"])
    old_checkpoint(tmp_path, "cases", batches=2, millis=1_764_000_000_000)

    with pytest.raises(ConfigError, match="reads every landing file again"):
        refuse_per_table_checkpoints(spark, config, ["cases"])


def test_a_source_checkpoint_or_none_at_all_starts(spark: SparkSession, tmp_path: Path) -> None:
    config = load_config(REPO / "conf" / "demo.yaml", [f"checkpoint={tmp_path}"])
    refuse_per_table_checkpoints(spark, config, ["cases"])  # nothing there: starts
    old_checkpoint(tmp_path, "cases", batches=1, millis=1_764_000_000_000)
    old_checkpoint(Path(source_checkpoint(config)).parent, "source", 1, 1_764_000_000_000)

    refuse_per_table_checkpoints(spark, config, ["cases"])  # the new one decides

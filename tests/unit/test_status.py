"""The pure parts of `status`: Spark's checkpoint files, the job's record, health, output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from runtime.checkpoint_log import (
    CheckpointError,
    file_log_names,
    kafka_offsets,
    kinesis_positions,
    last_committed,
    normal_path,
    parse_file_log,
    parse_offsets,
)
from runtime.journal import BatchRecord, expired, next_totals, parse_batch_name
from runtime.metrics import BatchMetrics
from runtime.status import (
    BROKEN,
    HEALTHY,
    LAGGING,
    QueryStatus,
    Report,
    RunStatus,
    TableStatus,
    health,
    parse_duration,
    render_json,
    render_text,
    window_counts,
)
from sinks.base import BatchResult

NOW = 1_796_000_000_000
MINUTE = 60_000

# An offsets file as Spark 3.5 writes it for a Kafka source (one source: one line).
KAFKA_OFFSETS = (
    "v1\n"
    '{"batchWatermarkMs":0,"batchTimestampMs":1795999940000,"conf":'
    '{"spark.sql.shuffle.partitions":"8"}}\n'
    '{"sports.sports.ticket":{"1":40,"0":123},"sports.sports.customer":{"0":7}}'
)
# The open-source Kinesis connector's end offset (the format Glue's source grew from).
KINESIS_OFFSETS = (
    "v1\n"
    '{"batchWatermarkMs":0,"batchTimestampMs":1795999940000,"conf":{}}\n'
    '{"metadata":{"streamName":"dms","batchId":"4"},'
    '"shardId-000000000000":{"iteratorType":"AFTER_SEQUENCE_NUMBER",'
    '"iteratorPosition":"49590338271490256608559692538361571095921575989136588898"},'
    '"shardId-000000000001":{"iteratorType":"TRIM_HORIZON","iteratorPosition":""}}'
)


def test_kafka_offsets_of_a_checkpoint_give_each_partition_its_next_offset() -> None:
    planned = parse_offsets(4, KAFKA_OFFSETS)
    assert planned.batch_id == 4 and planned.planned_ms == 1_795_999_940_000
    assert kafka_offsets(planned.sources[0]) == {
        ("sports.sports.ticket", 0): 123,
        ("sports.sports.ticket", 1): 40,
        ("sports.sports.customer", 0): 7,
    }


def test_kinesis_offsets_give_each_shard_its_sequence_number_or_start() -> None:
    planned = parse_offsets(4, KINESIS_OFFSETS)
    assert kinesis_positions(planned.sources[0]) == {
        "shardId-000000000000": "49590338271490256608559692538361571095921575989136588898",
        "shardId-000000000001": "TRIM_HORIZON",
    }


def test_a_source_without_offset_is_none_and_garbage_is_refused() -> None:
    assert parse_offsets(0, 'v1\n{"batchTimestampMs":1}\n-').sources == (None,)
    with pytest.raises(CheckpointError, match="offsets/3: not an offset log entry"):
        parse_offsets(3, "garbage")
    with pytest.raises(CheckpointError, match="offsets/3: not JSON"):
        parse_offsets(3, 'v1\n{"batchTimestampMs":1}\n{"topic":')
    with pytest.raises(CheckpointError, match="not a Kafka source offset"):
        kafka_offsets({"logOffset": 2})


def test_the_file_log_is_read_from_its_newest_compact_entry() -> None:
    names = ["8", "9.compact", "10", "11", "7", ".10.crc", "12.tmp"]
    assert file_log_names(names) == ["9.compact", "10", "11"]
    assert file_log_names(["0", "1"]) == ["0", "1"]
    assert last_committed(["0", "1", "10", ".10.crc"]) == 10
    assert last_committed([]) is None


def test_file_log_entries_are_paths_as_hadoop_lists_them() -> None:
    text = (
        "v1\n"
        '{"path":"file:///data/land%20ing/public/cases/LOAD00000001.csv",'
        '"timestamp":1796177988867,"batchId":0}\n'
        '{"path":"s3a://bucket/land/public/cases/20261202-1.csv","timestamp":1,"batchId":1}'
    )
    assert parse_file_log("1", text) == [
        ("/data/land ing/public/cases/LOAD00000001.csv", 0),
        ("s3a://bucket/land/public/cases/20261202-1.csv", 1),
    ]
    assert normal_path("file:/data/land ing/public/cases/LOAD00000001.csv") == (
        "/data/land ing/public/cases/LOAD00000001.csv"
    )
    with pytest.raises(CheckpointError, match="sources/0/1: not a file entry"):
        parse_file_log("1", 'v1\n{"no path": 1}')


def test_durations_in_spark_and_short_words() -> None:
    assert parse_duration("10 seconds") == 10
    assert parse_duration("500ms") == 0.5
    assert parse_duration("15m") == 900
    assert parse_duration("2 hours") == 7200
    with pytest.raises(ValueError, match="not a duration: 'soon'"):
        parse_duration("soon")


def test_totals_carry_every_table_and_count_each_batch() -> None:
    first = next_totals({}, {"a": _counts(5, 1)}, 0, NOW)
    second = next_totals(first, {"b": _counts(2, 0, rows=9)}, 1, NOW + 1)
    assert second["a"] == {
        "batches": 1, "applied": 5, "quarantined": 1, "stale": 0,
        "last_batch_id": 0, "last_at_ms": NOW,
    }  # fmt: skip
    assert second["b"]["applied"] == 2 and second["b"]["rows_in_table"] == 9
    third = next_totals(second, {"a": _counts(3, 2)}, 2, NOW + 2)
    assert third["a"]["applied"] == 8 and third["a"]["quarantined"] == 3
    assert third["a"]["batches"] == 2 and third["a"]["last_batch_id"] == 2


def test_the_window_keeps_two_hours_and_the_newest_ten() -> None:
    hour = 60 * MINUTE
    old = [f"{i:020d}-{NOW - 3 * hour + i}.json" for i in range(15)]
    recent = [f"{i:020d}-{NOW - hour}.json" for i in range(15, 20)]
    assert parse_batch_name(old[0]) == (0, NOW - 3 * hour)
    assert parse_batch_name("00000000000000000001.json.tmp") is None
    gone = expired([*old, *recent, "other.txt"], NOW)
    # 20 documents: the newest 10 stay (5 old, 5 recent); of the rest, the old ones go.
    assert gone == old[:10]
    assert expired(old[:10], NOW) == []


def test_last_hour_sums_the_documents_of_the_hour() -> None:
    documents = [
        {"at_ms": NOW - 61 * MINUTE, "tables": {"a": _counts(100, 100)}},
        {"at_ms": NOW - 59 * MINUTE, "tables": {"a": _counts(3, 1), "b": _counts(7, 0)}},
        {"at_ms": NOW, "tables": {"a": _counts(4, 0)}},
    ]
    assert window_counts(documents, "a", NOW) == (7, 1)
    assert window_counts(documents, "c", NOW) == (0, 0)


def test_a_batch_run_again_after_a_crash_is_counted_once(
    spark: SparkSession, tmp_path: Path
) -> None:
    record = BatchRecord(spark, str(tmp_path), "source")
    record.write(0, [_metrics("a", upserts=4, quarantined=1)], {}, 0)
    again = BatchRecord(spark, str(tmp_path), "source")  # the restarted job
    again.write(0, [_metrics("a", upserts=4, quarantined=1)], {}, 0)
    again.write(1, [_metrics("a", upserts=2, deletes=1)], {}, 0)

    folder = tmp_path / "_status" / "batches" / "source"
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert [parse_batch_name(n)[0] for n in names] == [0, 1]  # type: ignore[index]
    newest = json.loads((folder / names[-1]).read_text())
    assert newest["totals"]["a"]["applied"] == 7 and newest["totals"]["a"]["batches"] == 2
    assert newest["totals"]["a"]["quarantined"] == 1


def test_health_broken_before_lagging_before_healthy() -> None:
    def report(queries: list[QueryStatus], tables: list[TableStatus] | None = None,
               run: RunStatus | None = None) -> Report:  # fmt: skip
        return Report("job", NOW, 900, 10, run, queries, tables or [])

    caught_up = QueryStatus("source", "files", 3, NOW - 60 * MINUTE, pending=0)
    assert health(report([caught_up])) == HEALTHY
    # Waiting less than max_lag is fine; longer lags, by the oldest change's age...
    young = QueryStatus("source", "files", 3, NOW, pending=2, oldest_pending_ms=NOW - MINUTE)
    assert health(report([young])) == HEALTHY
    old = QueryStatus("source", "files", 3, NOW, pending=2, oldest_pending_ms=NOW - 20 * MINUTE)
    lagging = report([old])
    assert health(lagging) == LAGGING
    assert lagging.reasons == ["query source: 2 pending, the oldest for 20 min (max lag 15 min)"]
    # ... or, where the source cannot say (Kafka), by the last batch's age.
    kafka = QueryStatus("source", "kafka", 3, NOW - 16 * MINUTE, pending=40)
    assert health(report([kafka])) == LAGGING
    assert health(report([QueryStatus("source", "kafka", None, None, pending=1)])) == LAGGING
    # Broken wins over lagging.
    unreadable = QueryStatus("source", "files", error="offsets/3: not JSON")
    stopped = TableStatus("t", "source", stopped="column x was dropped")
    broken = report([old, unreadable], [stopped])
    assert health(broken) == BROKEN
    assert broken.reasons[:2] == [
        "query source: checkpoint unreadable: offsets/3: not JSON",
        "table t stopped: column x was dropped",
    ]
    unreachable = TableStatus("w", "source", error="target unreadable: OperationalError: refused")
    assert health(report([caught_up], [unreachable])) == BROKEN
    failed = RunStatus(NOW - MINUTE, once=False, ended_ms=NOW, outcome="failed", errors=["boom"])
    assert health(report([caught_up], run=failed)) == BROKEN


def test_a_query_runs_while_it_commits_within_three_triggers() -> None:
    run = RunStatus(NOW - 60 * MINUTE, once=False)

    def state(last_ms: int, pending: int) -> str:  # fmt: skip
        query = QueryStatus("source", "kafka", 1, last_ms, pending=pending)
        health(Report("job", NOW, 900, 30, run, [query], []))
        return query.state

    assert state(NOW - 80_000, 0) == "running"  # within 3 x 30 s
    assert state(NOW - 5 * MINUTE, 0) == "idle"  # nothing to read: Spark runs no batch
    assert state(NOW - 5 * MINUTE, 9) == "stalled"  # work waits, no batch
    ended = RunStatus(NOW - 60 * MINUTE, once=True, ended_ms=NOW - MINUTE, outcome="ok")
    query = QueryStatus("source", "files", 1, NOW - 2 * MINUTE, pending=0)
    health(Report("job", NOW, 900, 30, ended, [query], []))
    assert query.state == "stopped"


def test_the_text_and_json_show_every_field() -> None:
    run = RunStatus(NOW - 10 * MINUTE, once=True, ended_ms=NOW - 5 * MINUTE, outcome="ok")
    query = QueryStatus("source", "files", 2, NOW - 5 * MINUTE, pending=0,
                        position={"files read": 3})  # fmt: skip
    table = TableStatus("cases", "source", 2, NOW - 5 * MINUTE, rows=336, tombstones=19,
                        applied=416, quarantined=2, applied_last_hour=416,
                        quarantined_last_hour=2)  # fmt: skip
    report = Report("cases_demo", NOW, 900, 5, run, [query], [table])
    code = health(report)
    text = render_text(report, code)
    assert text.splitlines()[0].startswith("cases_demo: HEALTHY  (")
    assert "run      started" in text and "(--once), ended 5 min ago: ok" in text
    assert "query    source (files): stopped; last batch 2 (5 min ago)" in text
    assert "files pending 0, files read 3" in text
    header, row = text.splitlines()[-2:]
    assert header.split() == ["table", "last", "batch", "rows", "tombstones", "applied", "last",
                              "hour", "quarantined", "last", "hour"]  # fmt: skip
    assert row.split() == ["cases", "2", "(5", "min", "ago)", "336", "19", "416", "416", "2", "2"]
    document = json.loads(render_json(report, code))
    assert document["exit_code"] == 0 and document["health"] == "healthy"
    assert document["tables"][0]["tombstones"] == 19
    assert document["queries"][0]["state"] == "stopped"


def _counts(applied: int, quarantined: int, rows: int | None = None) -> dict[str, object]:
    return {"applied": applied, "quarantined": quarantined, "stale": 0, "rows_in_table": rows}


def _metrics(table: str, *, upserts: int = 0, deletes: int = 0, quarantined: int = 0
             ) -> BatchMetrics:  # fmt: skip
    result = BatchResult(batch_id=0, upserts=upserts, deletes=deletes)
    return BatchMetrics(table, 0, {"I": upserts}, quarantined, 0, result, 0.1)


def test_the_command_refuses_a_bad_duration_or_config_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from jobs.status import main

    assert main(["--max-lag", "soon"]) == 2
    assert "error: not a duration: 'soon'" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "missing.yaml")]) == 2
    assert "error: " in capsys.readouterr().err
    assert main(["--set", "trigger_interval=7 fortnights"]) == 2  # before any Spark starts
    assert "error: not a duration: '7 fortnights'" in capsys.readouterr().err

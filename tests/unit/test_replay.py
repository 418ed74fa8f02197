"""The pure half of a replay (transforms/replay.py) and its report: entry names, the
ordering of replayed records, selection, and what the report may say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config import JobConfig
from runtime.replay import ReplayError, Selection, replay
from runtime.replay_report import ReplayReport, TableReplay
from sinks.quarantine import ENTRY_SCHEMA, LEDGER_SCHEMA
from transforms.names import KINESIS_POSITION, POS, RAW, SEP, SOURCE_FILE
from transforms.ordering import newer_than
from transforms.position import file_position, file_start_position
from transforms.replay import (
    ENTRY,
    input_digest,
    kafka_messages,
    kinesis_records,
    latest_outcomes,
    mark_resolved,
    matching,
    raw_records,
    replayed_position,
    with_entry_ids,
)

FILE_A = "s3a://landing/shop/orders/20210816-060501000.json"
FILE_B = "s3a://landing/shop/orders/20210816-060502000.json"


def entries(spark: SparkSession, *rows: tuple[object, ...]) -> DataFrame:
    """(table, batch_id, reason, source_file, position, raw_record[, record_key]) rows."""
    full = [(*r[:6], "2026-01-01T00:00:00Z", *(r[6:] or (None,))) for r in rows]
    return spark.createDataFrame(full, ENTRY_SCHEMA)


def ids(df: DataFrame) -> list[str]:
    return [r[ENTRY] for r in df.transform(with_entry_ids).collect()]


def test_an_entry_keeps_its_name_when_its_raw_record_is_corrected(spark: SparkSession) -> None:
    original, corrected = ids(
        entries(
            spark,
            ("orders", 3, "bad", FILE_A, "1\x1fa\x1f0\x1f7", '{"qty": "many"}'),
            ("orders", 3, "bad", FILE_A, "1\x1fa\x1f0\x1f7", '{"qty": 9}'),
        )
    )
    assert original == corrected


def test_an_entry_without_position_is_named_by_its_record(spark: SparkSession) -> None:
    one, other, same_elsewhere = ids(
        entries(
            spark,
            ("orders", 3, "bad", FILE_A, None, "x"),
            ("orders", 3, "bad", FILE_A, None, "y"),
            ("orders", 4, "bad", FILE_A, None, "x"),
        )
    )
    assert len({one, other, same_elsewhere}) == 3


def test_identical_records_of_a_file_replay_once_at_the_newest_position(
    spark: SparkSession,
) -> None:
    df = entries(
        spark,
        ("orders", 1, "bad", FILE_A, "1\x1fa\x1f0\x1f1", "same"),
        ("orders", 1, "bad", FILE_A, "1\x1fa\x1f0\x1f5", "same"),
        ("orders", 1, "bad", FILE_B, "1\x1fb\x1f0\x1f1", "same"),
    ).transform(with_entry_ids)

    records = df.transform(raw_records).collect()

    by_file = {r["_file"]: r for r in records}
    assert set(by_file) == {FILE_A, FILE_B}
    assert by_file[FILE_A]["position"] == "1\x1fa\x1f0\x1f5"
    assert len(by_file[FILE_A]["entries"]) == 2


def _replayed(spark: SparkSession, position: str | None, source_file: str | None) -> str:
    """The `_pos` a decoded record of one entry gets."""
    df = entries(spark, ("orders", 1, "r", source_file, position, "raw")).transform(with_entry_ids)
    records = df.transform(raw_records)
    decoded = records.select(
        F.col("_file").alias(SOURCE_FILE), F.col("value").alias(RAW), F.lit("x").alias(POS)
    )
    out = decoded.transform(replayed_position(records, file_start_position(F.col(SOURCE_FILE))))
    return str(out.first()[POS])  # type: ignore[index]


def _held_position(spark: SparkSession, path: str, block: int) -> str:
    """The `_pos` the stream gave a row of `path` (as file_position computes it)."""
    row = spark.createDataFrame([(path, block)], "_file string, _block long")
    return str(row.select(file_position().alias("p")).first()["p"])  # type: ignore[index]


def _newer(spark: SparkSession, pos: str, held: str | None) -> bool:
    row = spark.createDataFrame([(pos, held)], "pos string, held string")
    # No sequence value on either side: the rule for changes without one, by position.
    verdict = newer_than(F.lit(None), F.col("pos"), F.lit(None), F.col("held"))
    return bool(row.select(verdict.alias("v")).first()["v"])  # type: ignore[index]


def test_a_replayed_record_keeps_the_position_it_arrived_with(spark: SparkSession) -> None:
    arrived = _held_position(spark, FILE_A, 0)

    assert _replayed(spark, arrived, FILE_A) == arrived


def test_a_record_without_position_orders_before_its_own_file_and_after_earlier_files(
    spark: SparkSession,
) -> None:
    replayed = _replayed(spark, None, FILE_B)

    assert _newer(spark, replayed, _held_position(spark, FILE_A, 0)), "earlier file: applies"
    assert not _newer(spark, replayed, _held_position(spark, FILE_B, 0)), "same file: stale"
    assert not _newer(spark, replayed, _held_position(spark, FILE_B, 4096))
    assert _newer(spark, replayed, None), "a key the target does not hold"


def test_a_record_without_position_or_file_applies_only_to_a_key_not_held(
    spark: SparkSession,
) -> None:
    replayed = _replayed(spark, None, None)

    assert not _newer(spark, replayed, _held_position(spark, FILE_A, 0))
    assert _newer(spark, replayed, None)


def test_selection_by_table_and_reason_substring(spark: SparkSession) -> None:
    df = entries(
        spark,
        ("orders", 1, "column qty: not a valid int", FILE_A, "p1", "a"),
        ("orders", 1, "malformed JSON record", FILE_A, "p2", "b"),
        ("items", 1, "column qty: not a valid int", FILE_A, "p3", "c"),
    )

    chosen = df.transform(matching("orders", "not a valid")).collect()

    assert [r["position"] for r in chosen] == ["p1"]
    assert df.transform(matching(None, None)).count() == 3


def test_resolved_entries_are_marked_and_rejected_ones_carry_their_newest_reason(
    spark: SparkSession,
) -> None:
    df = entries(
        spark,
        ("orders", 1, "old reason", FILE_A, "p1", "a"),
        ("orders", 1, "old reason", FILE_A, "p2", "b"),
        ("orders", 1, "old reason", FILE_A, "p3", "c"),
    ).transform(with_entry_ids)
    first, second, _ = [r[ENTRY] for r in df.collect()]
    ledger = spark.createDataFrame(
        [
            (first, "orders", "resolved", None, "2026-01-02T00:00:00"),
            (second, "orders", "rejected", "older", "2026-01-02T00:00:00"),
            (second, "orders", "rejected", "newest", "2026-01-03T00:00:00"),
        ],
        LEDGER_SCHEMA,
    )

    marked = {
        r["position"]: r for r in df.transform(mark_resolved(latest_outcomes(ledger))).collect()
    }

    assert [marked[p]["resolved"] for p in ("p1", "p2", "p3")] == [True, False, False]
    assert [marked[p]["reason"] for p in ("p2", "p3")] == ["newest", "old reason"]


def test_the_report_exit_code_is_one_only_when_something_is_still_rejected() -> None:
    clean = ReplayReport(
        "job", "replay-1", False, [TableReplay("t", selected=2, upserts=1, stale=1)]
    )
    rejected = ReplayReport(
        "job",
        "replay-1",
        False,
        [TableReplay("t", selected=1, rejected={"malformed JSON record": 1})],
    )
    nothing = ReplayReport("job", None, False, [])

    assert (clean.exit_code, rejected.exit_code, nothing.exit_code) == (0, 1, 0)
    assert json.loads(rejected.to_json())["tables"][0]["still_rejected"] == 1
    assert "! t: 1 still rejected: malformed JSON record" in rejected.to_text()
    assert "nothing to replay" in nothing.to_text()


def test_a_kafka_entry_gives_back_its_message_and_drops_a_position_without_binlog(
    spark: SparkSession,
) -> None:
    binlog = "mysql-bin\x1f00000000000000000003\x1f00000000000000000400"
    unreadable = "\x1f\x1f\x1f1\x1f\x1f0000000000\x1f00000000000000000003"
    df = entries(
        spark,
        ("orders", 1, "r", "cdc.shop.orders/0/17", binlog, "a", '{"id": 1}'),
        ("orders", 1, "r", "cdc.shop.orders/2/3", unreadable, "b", None),
        ("orders", 1, "r", "not-a-message", binlog, "c", None),
        ("orders", 1, "r", None, None, "d", None),
    ).transform(with_entry_ids)

    messages = df.transform(raw_records).transform(kafka_messages)
    back = F.concat_ws("/", "topic", "partition", "offset").alias("back")
    got = {r["value"]: r for r in messages.select("*", back).collect()}

    for value, row in got.items():  # the decoder names it as the quarantine did
        assert row["back"] == (row["_file"] or ""), value
    assert (got["a"]["topic"], got["a"]["partition"], got["a"]["offset"]) == (
        "cdc.shop.orders",
        "0",
        "17",
    )
    assert got["a"]["key"] == '{"id": 1}' and got["b"]["key"] is None
    assert (got["a"]["position"], got["b"]["position"]) == (binlog, None)


def test_a_kinesis_entry_keeps_its_sequence_position(spark: SparkSession) -> None:
    position = "1\x1f" + "0" * 125 + "300"
    df = entries(spark, ("orders", 1, "r", "kinesis:cdc/shop.orders", position, "x"))

    (row,) = (
        df.transform(with_entry_ids).transform(raw_records).transform(kinesis_records).collect()
    )

    assert (row[KINESIS_POSITION], row["_file"]) == (position, "kinesis:cdc/shop.orders")


def _digest(df: DataFrame) -> tuple[object, ...]:
    row = df.transform(with_entry_ids).transform(input_digest).first()
    return tuple(row)  # type: ignore[arg-type]


def test_a_corrected_key_is_a_new_replay_and_no_key_keeps_earlier_digests(
    spark: SparkSession,
) -> None:
    base = ("orders", 1, "r", "cdc.shop.orders/0/1", "p", "v")
    without, with_key, other_key = (
        _digest(entries(spark, (*base, key))) for key in (None, '{"id": 1}', '{"id": 2}')
    )

    assert len({without, with_key, other_key}) == 3
    # Without a key, what the digest always summed: entry, record, position.
    named = entries(spark, base).transform(with_entry_ids)
    each = F.sha2(F.concat_ws(SEP, ENTRY, "raw_record", "position"), 256)
    (sum_0,) = named.select(F.conv(F.substring(each, 1, 15), 16, 10).cast("decimal(38,0)")).first()  # type: ignore[misc]
    assert (without[0], without[1]) == (1, sum_0)


def test_dms_parquet_entries_are_refused_saying_why(spark: SparkSession, tmp_path: Path) -> None:
    config = JobConfig.model_validate(
        {
            "name": "parquet",
            "checkpoint": str(tmp_path / "checkpoint"),
            "source": {"path": str(tmp_path / "landing"), "format": "dms-parquet"},
            "tables": [
                {"name": "orders", "keys": ["id"], "columns": [{"name": "id", "type": "int"}]}
            ],
            "target": {"kind": "lake", "path": str(tmp_path / "lake")},
            "quarantine": {"path": str(tmp_path / "quarantine")},
        }
    )

    with pytest.raises(ReplayError, match="JSON rendering of each rejected Parquet row"):
        replay(spark, config, Selection())

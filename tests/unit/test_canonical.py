"""Raw DMS records of the demo table -> canonical changes and quarantined rejects."""

import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config import JobConfig, TableConfig
from config.load import load_config
from runtime.decoding import SourceFormat
from runtime.tables import Replica
from transforms.canonical import analysed_types, canonical_changes, output_types, split_rejected

DEMO = Path(__file__).resolve().parents[2] / "conf" / "demo.yaml"
LOAD = "/x/public/cases/LOAD00000001.csv"
CDC = "/x/public/cases/20201226-175759322.csv"
RAW = "value string, _file string, _block long"

LOAD_DEATHS = (
    "5efffef6ff988c24c977d607,Deaths,7,0,7/3/2020,São Tomé and Príncipe,N/A,,"
    '"São Tomé and Príncipe, N/A",0.1864,6.6131,7/4/2020 4:00:54 AM,'
)
INSERT_CONFIRMED = (
    "I,5fe777caff988c24c977dbb0,Confirmed,1148,16,12/25/2020,US,Arizona,Port Keith,"
    '"US, Arizona, Port Keith",33.8843,-112.0581,12/26/2020 5:50:02 PM,18179'
)
DELETE = "D,5f4704cdff988c24c977d75b,,,,,,,,,,,,"
BAD_INT = (
    "U,5fda0c97ff988c24c977db21,Confirmed,abc,21,12/15/2020,US,Montana,Unassigned,"
    '"US, Montana, Unassigned",,,12/26/2020 5:49:52 PM,'
)
SHORT = "U,5fda0c97ff988c24c977db22,Confirmed"
NULL_KEY = "D,,,,,,,,,,,,,"
DECLARED = [
    "oid__id",
    "case_type",
    "cases",
    "difference",
    "date",
    "country_region",
    "province_state",
    "admin2",
    "combined_key",
    "lat",
    "long",
    "prep_flow_runtime",
    "fips",
]


@pytest.fixture(scope="module")
def demo() -> JobConfig:
    return load_config(DEMO)


def _split(
    spark: SparkSession, config: JobConfig, lines: Sequence[tuple[str, str]]
) -> tuple[DataFrame, DataFrame]:
    raw = spark.createDataFrame([(value, file, 0) for value, file in lines], RAW)
    replica = Replica.declared(config.explicit_tables[0], "tables.0")
    records = raw.transform(SourceFormat(config.source, root="/x").typed_records(replica))
    return split_rejected(records)


def _changes(spark: SparkSession, config: JobConfig, lines: Sequence[tuple[str, str]]) -> DataFrame:
    good, _ = _split(spark, config, lines)
    return good.transform(canonical_changes(config.explicit_tables[0]))


def test_changes_have_target_columns_in_order_then_bookkeeping(
    spark: SparkSession, demo: JobConfig
) -> None:
    changes = _changes(spark, demo, [(LOAD_DEATHS, LOAD)])

    derived = ["year", "month", "day", "is_death", "is_confirmed"]
    assert changes.columns == [*DECLARED, *derived, "_op", "_seq", "_pos", "_commit_ts"]
    types = {f.name: f.dataType.simpleString() for f in changes.schema.fields}
    assert types["date"] == "date"
    assert types["prep_flow_runtime"] == "timestamp"
    assert types["cases"] == "int"
    assert types["lat"] == "double"
    assert [types[c] for c in ("year", "month", "day")] == ["smallint"] * 3
    assert types["is_death"] == "int"


def test_load_rows_become_inserts_with_derived_columns(
    spark: SparkSession, demo: JobConfig
) -> None:
    changes = _changes(spark, demo, [(LOAD_DEATHS, LOAD), (INSERT_CONFIRMED, CDC)])

    actual = changes.select(
        "oid__id",
        "_op",
        "cases",
        "date",
        F.date_format("prep_flow_runtime", "yyyy-MM-dd HH:mm:ss").alias("runtime"),
        "year",
        "month",
        "day",
        "is_death",
        "is_confirmed",
        "admin2",
        "fips",
    )
    expected = spark.createDataFrame(
        [
            (
                "5efffef6ff988c24c977d607",
                "I",
                7,
                date(2020, 7, 3),
                "2020-07-04 04:00:54",
                2020,
                7,
                3,
                1,
                0,
                None,
                None,
            ),
            (
                "5fe777caff988c24c977dbb0",
                "I",
                1148,
                date(2020, 12, 25),
                "2020-12-26 17:50:02",
                2020,
                12,
                25,
                0,
                1,
                "Port Keith",
                18179,
            ),
        ],
        "oid__id string, _op string, cases int, date date, runtime string, year smallint, "
        "month smallint, day smallint, is_death int, is_confirmed int, admin2 string, fips int",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_seq_encodes_the_derived_business_timestamp_and_delete_has_none(
    spark: SparkSession, demo: JobConfig
) -> None:
    changes = _changes(spark, demo, [(LOAD_DEATHS, LOAD), (DELETE, CDC)])

    expected = spark.createDataFrame(
        [
            ("5efffef6ff988c24c977d607", "I", "20200704040054000000"),
            ("5f4704cdff988c24c977d75b", "D", None),
        ],
        "oid__id string, _op string, _seq string",
    )
    assert_df_equality(
        changes.select("oid__id", "_op", "_seq"),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_except_column_list_drops_the_column(spark: SparkSession) -> None:
    config = load_config(DEMO, ["tables.0.except_column_list=[combined_key, is_confirmed]"])

    changes = _changes(spark, config, [(INSERT_CONFIRMED, CDC)])

    assert "combined_key" not in changes.columns
    assert "is_confirmed" not in changes.columns
    assert [c for c in changes.columns if not c.startswith("_")] == [
        *[c for c in DECLARED if c != "combined_key"],
        "year",
        "month",
        "day",
        "is_death",
    ]


def test_rejected_records_are_kept_with_reasons_and_not_applied(
    spark: SparkSession, demo: JobConfig
) -> None:
    good, rejected = _split(
        spark,
        demo,
        [(LOAD_DEATHS, LOAD), (BAD_INT, CDC), (SHORT, CDC), (NULL_KEY, CDC), ("", CDC)],
    )

    expected = spark.createDataFrame(
        [
            (BAD_INT, CDC, "column cases: not a valid int"),
            (SHORT, CDC, "malformed CSV record: expected 14 fields (Op + columns)"),
            (NULL_KEY, CDC, "key column oid__id is null"),
            ("", CDC, "empty record"),
        ],
        "_raw string, _source_file string, _error string",
    )
    assert_df_equality(
        rejected.select("_raw", "_source_file", "_error"),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )
    good_keys = spark.createDataFrame([("5efffef6ff988c24c977d607",)], "oid__id string")
    assert_df_equality(good.select("oid__id"), good_keys, ignore_nullable=True)


def test_control_and_other_table_records_are_in_neither_output(spark: SparkSession) -> None:
    config = load_config(DEMO, ["source.format=dms-json"])

    def record(record_type: str, operation: str, table: str, data: dict[str, object]) -> str:
        metadata = {
            "timestamp": "2021-08-16T06:05:01.123456Z",
            "record-type": record_type,
            "operation": operation,
            "schema-name": "public",
            "table-name": table,
        }
        return json.dumps({"data": data, "metadata": metadata})

    insert = record("data", "insert", "cases", {"oid__id": "k1", "cases": 3})
    lines = [
        (insert, "/x/kinesis/0.json"),
        (record("control", "create-table", "cases", {}), "/x/kinesis/0.json"),
        (record("data", "insert", "ticket", {"oid__id": None}), "/x/kinesis/0.json"),
    ]
    good, rejected = _split(spark, config, lines)

    expected = spark.createDataFrame([(insert, "I")], "_raw string, _op string")
    assert_df_equality(good.select("_raw", "_op"), expected, ignore_nullable=True)
    assert rejected.isEmpty()


def _table(**extra: object) -> TableConfig:
    types = ["string", "boolean", "tinyint", "smallint", "int", "bigint", "float", "double",
             "date", "timestamp", "decimal(38,18)"]  # fmt: skip
    columns = [{"name": "id", "type": "bigint"}, *({"name": f"c{i}", "type": t}
               for i, t in enumerate(types))]  # fmt: skip
    return TableConfig.model_validate({"name": "t", "keys": ["id"], "columns": columns, **extra})


def test_target_types_of_a_table_without_derived_or_protected_columns_are_as_spark_has_them(
    spark: SparkSession,
) -> None:
    table = _table(except_column_list=["c3"])
    found = output_types(spark, table)
    assert found == analysed_types(spark, table)
    assert list(found) == [n for n in table.output_columns]
    assert "c3" not in found


def test_target_types_follow_derived_columns(spark: SparkSession) -> None:
    table = _table(
        derived=[{"name": "c4", "expr": "cast(c4 as bigint)"}, {"name": "half", "expr": "id / 2"}]
    )
    found = output_types(spark, table)
    assert (found["c4"], found["half"], found["c5"]) == ("bigint", "double", "bigint")

"""One program for many tables (dms_csv `decode_dms_csv_widths` + shared_types
`typed_as_text`) against each table's own decoder and `coerce_types`: the same records
refused for the same reasons, the same values sent to the warehouse as text."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from transforms.coerce import coerce_types
from transforms.dms_csv import decode_dms_csv, decode_dms_csv_widths
from transforms.names import ERROR, OP, RAW
from transforms.shared_types import KEY, VALUES, TextTable, typed_as_text, warehouse_text
from transforms.types import SourceColumn

RAW_SCHEMA = "value string, _file string, _block long, _t string"
CDC = "/land/s/{}/20240101-000000001.csv"
LOAD = "/land/s/{}/LOAD00000001.csv"

ORDERS = TextTable(
    "orders",
    (
        SourceColumn("id", "bigint"),
        SourceColumn("placed", "timestamp"),
        SourceColumn("amount", "decimal(22,4)"),
        SourceColumn("note", "string"),
        SourceColumn("paid", "boolean", "boolean"),
        SourceColumn("day", "date"),
    ),
    keys=("id",),
    output=("id", "placed", "amount", "paid", "day"),  # `note` left out
)
RATES = TextTable(
    "rates",
    (SourceColumn("rate", "double"), SourceColumn("code", "string"), SourceColumn("n", "int")),
    keys=("code", "rate"),  # not in field order
    output=("rate", "code", "n"),
    max_string_bytes=4,
)
TABLES = (ORDERS, RATES)

LINES = {
    "orders": [
        "I,1,2024-01-02 03:04:05.123456,12345678901234567.1234,a note,1,2024-02-29",
        "U,2,2024-01-02,0.00005,,0,2024-01-01",  # amount rounded half-up to the scale
        "U,3,not a time,1e3,x,maybe,2024-13-01",  # three columns refused
        "D,,,,,,",  # a change without its key
        "I,4,2024-01-01 00:00:00,1,n",  # too few fields
        'I,5,2024-01-01 00:00:00,1,"unclosed,1,2024-01-01',
        "Z,6,2024-01-01 00:00:00,1,n,t,2024-01-01",  # unknown operation
        "",
        "I,7,2021,1,n,true,18962",  # a year alone is no timestamp, days no date
        "I,99999999999999999999,2024-01-01 00:00:00,1,n,1,2024-01-01",  # past a bigint
    ],
    "rates": [
        "I,-0.0,abcd,1",
        "U,0.0,abcde,2",  # over max_string_bytes
        "I,1.5,é€,3",  # 5 bytes: over
        "I,x,ab,4.5",  # rate and n refused
        "D,2.5,,",  # code is a key: NULL
        "I,1.1,ab,1,extra",  # too many fields
    ],
}


def _raw(spark: SparkSession, table: str) -> DataFrame:
    rows = [(line, CDC.format(table), 0, table) for line in LINES[table]]
    rows.append(("1,2024-01-01,1,n,1,2024-01-01" if table == "orders" else "9,z,9",
                 LOAD.format(table), 0, table))  # fmt: skip
    return spark.createDataFrame(rows, RAW_SCHEMA)


def _per_table(spark: SparkSession, table: TextTable) -> DataFrame:
    """What each table's own decoder gives, the values sent as the warehouse's text."""
    names = [c.name for c in table.columns]
    typed = (
        _raw(spark, table.name)
        .transform(decode_dms_csv(names))
        .transform(coerce_types(table.columns, table.keys, table.max_string_bytes))
    )
    kinds = {c.name: c.type for c in table.columns}

    def key_text(name: str) -> Column:
        if kinds[name] in ("float", "double"):
            return (F.col(name) + F.lit(0.0)).cast("string")
        return warehouse_text(F.col(name), kinds[name])

    return typed.select(
        F.col(RAW),
        F.col(OP),
        F.col(ERROR),
        F.array(*[key_text(c.name) for c in table.columns if c.name in table.keys]).alias(KEY),
        F.array(*[warehouse_text(F.col(o), kinds[o]) for o in table.output]).alias(VALUES),
    )


def _shared(spark: SparkSession) -> DataFrame:
    widths = {t.name: len(t.columns) for t in TABLES}
    raw = _raw(spark, "orders").union(_raw(spark, "rates"))
    with_width = raw.withColumn(
        "_w", F.when(F.col("_t") == "orders", widths["orders"]).otherwise(widths["rates"])
    )
    return (
        with_width.transform(decode_dms_csv_widths(list(widths.values()), "_w", ["_t"]))
        .transform(typed_as_text(TABLES, "_t"))
        .select("_t", RAW, OP, ERROR, KEY, VALUES)
    )


def _rows(frame: DataFrame) -> list[tuple[object, ...]]:
    return sorted((tuple(r) for r in frame.collect()), key=repr)


def test_every_record_typed_and_refused_as_its_table_alone_does(spark: SparkSession) -> None:
    shared = _shared(spark)
    for table in TABLES:
        expected = _rows(_per_table(spark, table))
        got = _rows(shared.where(F.col("_t") == table.name).drop("_t"))
        assert got == expected, table.name
        assert len(got) == len(LINES[table.name]) + 1


def test_the_cases_meant_are_there(spark: SparkSession) -> None:
    """The comparison above holds refusals of every kind, and exact values."""
    rows = {r[RAW]: r for r in _shared(spark).collect()}
    reasons = " | ".join(str(r[ERROR]) for r in rows.values())
    for reason in (
        "column placed: not a valid timestamp",
        "column paid: not a valid boolean",
        "column day: not a valid date",
        "key column id is null",
        "expected 7 fields (Op + columns)",
        "expected 4 fields (Op + columns)",
        "unknown operation",
        "empty record",
        "a quoted field is not closed",
        "column code: 5 bytes, over max_string_bytes 4",
        "column n: not a valid int",
        "key column code is null",
    ):
        assert reason in reasons, reason
    first = rows[LINES["orders"][0]]
    assert first[ERROR] is None
    assert first[VALUES] == [
        "1",
        "2024-01-02 03:04:05.123456",
        "12345678901234567.1234",
        "true",
        "2024-02-29",
    ]
    assert rows[LINES["rates"][0]][KEY] == ["0.0", "abcd"]  # -0.0 is the key 0.0, in field order
    assert rows[LINES["orders"][1]][VALUES][2] == "0.0001"


def test_a_table_whose_target_columns_are_not_in_field_order_is_not_for_the_program() -> None:
    assert ORDERS.in_field_order and RATES.in_field_order
    swapped = TextTable("t", RATES.columns, RATES.keys, ("code", "rate", "n"))
    assert not swapped.in_field_order

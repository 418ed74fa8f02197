"""Many tables' typed columns in shared slots (transforms/slots.py): the layout, and values
written as the one program's text read back exactly into their types."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal

from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from transforms.shared_types import warehouse_text
from transforms.slots import slot_layout, typed_slots

TABLES = {
    "a": [("id", "bigint"), ("name", "string"), ("other", "bigint"), ("at", "timestamp")],
    "b": [("code", "string"), ("rate", "double"), ("small", "tinyint"), ("mid", "smallint")],
    "c": [("n", "int"), ("price", "decimal(12,2)"), ("f", "float"), ("ok", "boolean"),
          ("day", "date"), ("big", "decimal(38,10)")],
}  # fmt: skip


def test_each_type_gets_as_many_slots_as_the_table_with_most_columns_of_it() -> None:
    layout = slot_layout(TABLES)
    kinds = [kind for _, kind in layout.slots]
    assert kinds.count("bigint") == 2 and kinds.count("string") == 1
    assert len(kinds) == len(set(kinds)) + 1  # only bigint needs two slots
    for table, columns in TABLES.items():
        slots = dict(layout.slots)
        assert [slots[s] for s in layout.of_table[table]] == [k for _, k in columns]
        assert len(set(layout.of_table[table])) == len(columns)  # one slot a column


def test_values_written_as_text_come_back_exactly_in_their_types(spark: SparkSession) -> None:
    rows = {
        "a": [
            (2**62, "é ü, \"quoted\"", -(2**63), datetime(1000, 1, 1, 0, 0, 0, 1)),
            (-1, None, 0, datetime(2024, 2, 29, 23, 59, 59, 999999)),
        ],
        "b": [
            ("x", -0.0, -128, -32768),
            ("y", math.inf, 127, 32767),
            ("z", 1.0000000000000002e-300, None, 0),
            ("w", math.nan, 0, 1),
        ],
        "c": [
            (-(2**31), Decimal("-9999999999.99"), 3.4028235e38, True, date(1, 1, 1),
             Decimal("1234567890123456789012345678.0123456789")),
            (7, Decimal("0.01"), 1.1754944e-38, False, date(9999, 12, 31), Decimal("0E-10")),
        ],
    }  # fmt: skip
    layout = slot_layout(TABLES)
    for table, columns in TABLES.items():
        ddl = ", ".join(f"`{n}` {k}" for n, k in columns)
        typed = spark.createDataFrame(rows[table], ddl)
        text = typed.select(
            F.lit(table).alias("t"),
            F.array(*[warehouse_text(F.col(n), k) for n, k in columns], F.lit("I")).alias("v"),
        )
        got = text.transform(typed_slots(layout, "t", "v")).select(
            *[F.col(s).alias(n) for (n, _), s in zip(columns, layout.of_table[table], strict=True)]
        )
        assert got.schema == typed.schema, table
        assert _same(got.collect(), typed.collect()), table
        others = set(dict(layout.slots)) - set(layout.of_table[table])
        filled = text.transform(typed_slots(layout, "t", "v")).select(*others).collect()
        assert all(v is None for row in filled for v in row)  # another table's slots: NULL


def _same(got: list[Row], want: list[Row]) -> bool:
    """Rows equal value for value, NaN equal to NaN and -0.0 apart from 0.0."""

    def key(value: object) -> object:
        if isinstance(value, float):
            return ("nan",) if math.isnan(value) else (value, math.copysign(1.0, value))
        return value

    return sorted(map(repr, ([key(v) for v in r] for r in got))) == sorted(
        map(repr, ([key(v) for v in r] for r in want))
    )

"""The lake's columns after a batch (sinks/lake/columns.py): added and widened columns are
followed, a narrower batch type is written in the table's, any other type is refused."""

from __future__ import annotations

import pytest
from pyspark.sql.types import IntegerType, LongType, StringType, StructField, StructType

from sinks.lake.columns import ColumnTypeError, table_schema


def schema(**types: object) -> StructType:
    return StructType([StructField(name, kind, True) for name, kind in types.items()])  # type: ignore[arg-type]


def test_an_added_or_widened_column_changes_the_table() -> None:
    recorded = schema(id=LongType(), qty=IntegerType()).json()

    widened, changed = table_schema(recorded, schema(id=LongType(), qty=LongType()))
    added, grew = table_schema(
        recorded, schema(id=LongType(), qty=IntegerType(), note=StringType())
    )

    assert (widened, changed) == (schema(id=LongType(), qty=LongType()), True)
    assert (added, grew) == (schema(id=LongType(), qty=IntegerType(), note=StringType()), True)


def test_a_narrower_batch_type_keeps_the_tables() -> None:
    recorded = schema(id=LongType(), qty=LongType()).json()

    kept, changed = table_schema(recorded, schema(id=LongType(), qty=IntegerType()))

    assert (kept, changed) == (schema(id=LongType(), qty=LongType()), False)


def test_another_type_is_refused_naming_the_column_and_both_types() -> None:
    recorded = schema(id=LongType(), qty=IntegerType()).json()

    with pytest.raises(ColumnTypeError, match=r"^the lake table: column qty holds int, the batch "
                       r"brings string \(not a widening\)"):  # fmt: skip
        table_schema(recorded, schema(id=LongType(), qty=StringType()))

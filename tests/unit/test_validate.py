"""check_expressions: a table's expressions are checked against its columns at start,
each failure naming its config key; a table with nothing to check costs no Spark work."""

from __future__ import annotations

from typing import Any

import pytest
from pyspark.sql import SparkSession

from config import TableConfig
from config.load import ConfigError
from runtime.validate import check_expressions

COLUMNS = [{"name": "id", "type": "int"}, {"name": "name", "type": "string"}]


def _table(**fields: Any) -> TableConfig:
    return TableConfig.model_validate({"name": "t", "keys": ["id"], "columns": COLUMNS, **fields})


def test_a_table_with_nothing_to_check_asks_nothing_of_spark() -> None:
    check_expressions(None, "tables.0", _table())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"derived": [{"name": "d", "expr": "nope + 1"}]}, "tables.3.derived.0 (d): "),
        ({"commit_ts": "missing_col"}, "tables.3.commit_ts: "),
        ({"sequence_by": ["nope"]}, "tables.3.sequence_by: "),
        (
            {"derived": [{"name": "ids", "expr": "array(id)"}], "partition_by": ["ids"]},
            "tables.3.partition_by: ids has type array<int>",
        ),
    ],
)
def test_each_bad_expression_fails_naming_its_key(
    spark: SparkSession, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        check_expressions(spark, "tables.3", _table(**fields))
    assert str(caught.value).startswith(message), caught.value


def test_good_expressions_pass(spark: SparkSession) -> None:
    table = _table(
        derived=[{"name": "bucket", "expr": "id % 10"}],
        sequence_by=["id"],
        partition_by=["bucket"],
    )
    check_expressions(spark, "tables.3", table)

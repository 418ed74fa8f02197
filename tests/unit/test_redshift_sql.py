"""Every statement the Redshift dialect emits is Redshift SQL: parsed by a Redshift grammar.

PostgreSQL runs the same statements in the other tests; nothing there proves the Redshift
text is Redshift. sqlglot's `redshift` dialect parses each one whole (any leftover text is
an error) and must recognise it: a statement it can only keep as an opaque command fails,
except LOCK, which sqlglot does not model and which is checked against Redshift's
documented form instead.
"""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp

from config import load_config
from sinks.redshift.denormalize import Denormalized
from sinks.redshift.dialect import Column, Dialect, PostgresDialect, RedshiftDialect
from sinks.redshift.statements import Statement
from tests.unit.test_config import DECLARED

COLUMNS = [
    Column("id", "int"),
    Column("name", "string"),
    Column("price", "decimal(10,2)"),
    Column("seen", "timestamp"),
    Column("flag", "boolean"),
    Column("small", "tinyint"),
]
STAGE = "t__stage_7"
# Redshift's LOCK: LOCK [ TABLE ] table_name [, ...] (no mode).
REDSHIFT_LOCK = re.compile(r'^LOCK (TABLE )?"\w+"\."\w+"(, "\w+"\."\w+")*$')


def statements(dialect: Dialect) -> list[Statement]:
    """One of every statement the engine can send, for a table and a denormalized one."""
    names = [c.name for c in COLUMNS]
    keys = COLUMNS[:1]
    out = [
        dialect.create_schema("s"),
        dialect.column_types("s", "t"),
        *dialect.widen_column("s", "t", Column("id", "bigint")),
        dialect.stage_tables("s", "t"),
        dialect.drop_table("s", STAGE),
        dialect.create_target("s", "t", COLUMNS, ["id"]),
        dialect.add_column("s", "t", COLUMNS[1]),
        dialect.create_keys("s", "t", keys),
        dialect.create_ledger("s"),
        dialect.create_stage("s", STAGE, COLUMNS),
        dialect.create_stage("s", STAGE, COLUMNS, commit_ts=True),
        *dialect.merge("s", "t", STAGE, names, ["id"]),
        dialect.drop_accepted(STAGE),
        dialect.create_history("s", "t", COLUMNS, ["id"]),
        dialect.create_events("s", "t", keys),
        *dialect.history_merge("s", "t", STAGE, names, ["id"]),
        *dialect.drop_history_temps(STAGE),
        dialect.record_batch("s", "t", STAGE, history=False, writer_id="w", batch_id=7),
        dialect.record_batch("s", "t", STAGE, history=True, writer_id="w", batch_id=7),
        dialect.ledger_of_batch("s", "w", 7),
        dialect.copy_parquet("s", STAGE, "s3://b/p/part-", "arn:aws:iam::123456789012:role/r"),
    ]
    config = load_config(DECLARED)
    tables = {t.name: t for t in config.explicit_tables}
    types = {n: {c: "string" for c in t.output_columns} for n, t in tables.items()}
    keys_of = {n: t.keys or [] for n, t in tables.items()}
    for spec in config.denormalize:
        wide = Denormalized.resolve(spec, keys_of, types)
        out += [wide.create(dialect, "s"), wide.lock(dialect, "s")]
        for ref in spec.tables:
            accepted = dialect.accepted(f"{ref.table}__stage_7")
            out += wide.refresh("s", ref.table, keys_of[ref.table], accepted)
    return out


def redshift_parse(statement: Statement) -> exp.Expr:
    return sqlglot.parse_one(
        statement.text(":{}"), read="redshift", error_level=sqlglot.ErrorLevel.RAISE
    )


@pytest.mark.parametrize("statement", statements(RedshiftDialect()), ids=lambda s: s.sql[:50])
def test_each_redshift_statement_parses_as_redshift_sql(statement: Statement) -> None:
    tree = redshift_parse(statement)
    if isinstance(tree, exp.Command):
        assert REDSHIFT_LOCK.match(statement.text()), f"not Redshift SQL: {statement.sql}"


def test_every_kind_of_statement_is_covered() -> None:
    kinds = {type(redshift_parse(s)).__name__ for s in statements(RedshiftDialect())}
    assert kinds >= {"Create", "Insert", "Delete", "Update", "Select", "Copy", "Drop", "Alter"}


def test_postgres_only_syntax_is_told_apart() -> None:
    """The check can fail: PostgreSQL's LOCK mode is not Redshift's, nor is broken text."""
    lock = PostgresDialect().lock("s", "t")
    assert isinstance(redshift_parse(lock), exp.Command)
    assert not REDSHIFT_LOCK.match(lock.text())
    with pytest.raises(sqlglot.errors.ParseError):
        redshift_parse(Statement('INSERT INTO "s"."t" ("id" SELECT 1'))


def test_redshift_connector_binds_the_named_parameters_itself() -> None:
    """What redshift_connector does with `paramstyle = "named"`: `:name` becomes `$n`."""
    from redshift_connector.core import convert_paramstyle

    statement = RedshiftDialect().ledger_of_batch("s", "writer-1", 7)
    sql, make_args = convert_paramstyle("named", statement.text(":{}"))

    assert ":" not in sql and "$1" in sql and "$2" in sql
    assert make_args(dict(statement.params)) == ("writer-1", 7)

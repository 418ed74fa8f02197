"""Compare a warehouse with its source: the job's transforms, in batch, on the source rows.

Counts only: rows missing from the target, extra in it, and present in both but
different. Never a value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import reduce
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config import JobConfig, KafkaSource, KinesisSource, RedshiftTarget, Tokenization
from config.denormalize import DenormalizedTable, reference
from runtime.tables import Registry, Replica
from sinks.redshift.statements import quote
from transforms.canonical import canonical_changes, split_rejected
from transforms.coerce import coerce_types
from transforms.names import COMMIT_TS, ERROR, OP, OP_LOAD, POS


@dataclass(frozen=True)
class Difference:
    table: str
    expected: int
    actual: int
    missing: int
    extra: int
    different: int
    rejected: int = 0  # source rows the job would quarantine

    @property
    def ok(self) -> bool:
        return self.missing == self.extra == self.different == 0

    def line(self) -> str:
        state = "ok" if self.ok else "DIFFERENT"
        rejected = f", {self.rejected} would be quarantined" if self.rejected else ""
        return (
            f"{self.table:<28} {state:<9} expected {self.expected}, actual {self.actual}: "
            f"{self.missing} missing, {self.extra} extra, {self.different} different{rejected}"
        )


def expected_table(
    spark: SparkSession,
    replica: Replica,
    rows: Sequence[tuple[str | None, ...]],
    tokens: Tokenization | None,
) -> tuple[DataFrame, int]:
    """(the target rows the job must produce from these source rows, rows it would reject)."""
    table = replica.config
    declared = ", ".join(f"`{name}` string" for name in table.column_names)
    records = spark.createDataFrame(
        [(OP_LOAD, *row, f"{i:020d}") for i, row in enumerate(rows)],
        f"{OP} string, {declared}, {POS} string",
    ).select(
        OP,
        *[F.col(f"`{n}`") for n in table.column_names],
        F.lit(None).cast("timestamp").alias(COMMIT_TS),
        POS,
        F.lit(None).cast("string").alias(ERROR),
    )
    typed = records.transform(
        coerce_types(replica.columns, table.keys or [], table.max_string_bytes)
    )
    good, rejected = split_rejected(typed)
    changes = good.transform(canonical_changes(table, tokens))
    return changes.select(*[F.col(f"`{c}`") for c in table.output_columns]), rejected.count()


def expected_denormalized(spec: DenormalizedTable, replicas: Mapping[str, DataFrame]) -> DataFrame:
    """The fact left joined to its dimensions, computed by Spark from the expected replicas."""
    aliased = {ref.alias: replicas[ref.table].alias(ref.alias) for ref in spec.tables}
    joined = aliased[spec.fact.alias]
    for join in spec.joins:
        condition = reduce(
            lambda a, b: a & b,
            [F.col(f"`{join.alias}`.`{c}`") == _col(value) for c, value in join.key.items()],
        )
        joined = joined.join(aliased[join.alias], condition, "left")
    return joined.select(*[_col(value).alias(name) for name, value in spec.columns.items()])


def read_target(
    spark: SparkSession,
    conn: Any,
    schema: str,
    table: str,
    like: DataFrame,
    *,
    current_only: bool = False,
) -> DataFrame:
    """The warehouse table's rows, typed like the expected frame (a missing table is empty).

    `current_only`: an SCD type 2 table, whose current versions are the source's rows.
    """
    cur = conn.cursor()
    cur.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s "
        "AND table_name = %s",
        (schema, table),
    )
    if int(cur.fetchone()[0]) == 0:
        return spark.createDataFrame([], like.schema)
    cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = %s",
        (schema, table),
    )
    present = {str(row[0]) for row in cur.fetchall()}
    # A column the source has and the target not yet (added a moment ago) reads NULL: a
    # difference to count, not an error.
    names = ", ".join(quote(c) if c in present else "NULL" for c in like.columns)
    where = " WHERE is_current" if current_only else ""
    cur.execute(f"SELECT {names} FROM {quote(schema)}.{quote(table)}{where}")
    return spark.createDataFrame([tuple(map(_utc, r)) for r in cur.fetchall()], like.schema)


def _utc(value: Any) -> Any:
    """Warehouse TIMESTAMPs hold UTC wall time; a naive datetime would be read as local."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def compare(name: str, expected: DataFrame, actual: DataFrame, keys: Sequence[str]) -> Difference:
    """Count missing, extra and different rows by key; null equals null."""
    e = expected.select(*[F.col(f"`{c}`").alias(f"e_{c}") for c in expected.columns])
    a = actual.select(*[F.col(f"`{c}`").alias(f"a_{c}") for c in expected.columns])
    on = reduce(lambda x, y: x & y, [F.col(f"e_{k}") == F.col(f"a_{k}") for k in keys])
    same = reduce(
        lambda x, y: x & y,
        [F.col(f"e_{c}").eqNullSafe(F.col(f"a_{c}")) for c in expected.columns],
    )
    in_e, in_a = F.col(f"e_{keys[0]}").isNotNull(), F.col(f"a_{keys[0]}").isNotNull()
    counts = (
        e.join(a, on, "full_outer")
        .agg(
            F.sum((in_e & ~in_a).cast("int")).alias("missing"),
            F.sum((in_a & ~in_e).cast("int")).alias("extra"),
            F.sum((in_e & in_a & ~same).cast("int")).alias("different"),
            F.sum(in_e.cast("int")).alias("expected"),
            F.sum(in_a.cast("int")).alias("actual"),
        )
        .first()
    )
    assert counts is not None
    return Difference(
        name,
        expected=int(counts["expected"] or 0),
        actual=int(counts["actual"] or 0),
        missing=int(counts["missing"] or 0),
        extra=int(counts["extra"] or 0),
        different=int(counts["different"] or 0),
    )


def verify(
    spark: SparkSession,
    config: JobConfig,
    source: Any,
    target: Any,
    tokens: Tokenization | None,
) -> list[Difference]:
    """Every replicated and denormalized table of a warehouse job, compared with the source.

    `source` is a DB-API connection to the captured database, `target` to the warehouse.
    """
    from runtime.decoding import SourceFormat
    from sources.discovery import MySqlCatalog
    from sources.mysql_state import debezium_text, dms_text, read_rows

    assert isinstance(config.target, RedshiftTarget), "verify compares a warehouse target"
    schema = config.target.db_schema
    catalog = MySqlCatalog(lambda: _Borrowed(source))
    resolved = Registry(config, catalog, SourceFormat(config.source).encode).start()
    encode = debezium_text if isinstance(config.source, KafkaSource) else dms_text
    replicas: dict[str, DataFrame] = {}
    results = []
    for replica in resolved:
        table = replica.config
        source_schema, source_table = replica.source
        rows = read_rows(source, source_schema, source_table, table.column_names, encode)
        expected, rejected = expected_table(spark, replica, rows, tokens)
        expected = expected.cache()
        replicas[table.name] = expected
        actual = read_target(
            spark, target, schema, table.name, expected, current_only=table.scd_type == 2
        )
        found = compare(table.name, expected, actual, table.keys or [])
        results.append(replace(found, rejected=rejected))
    keys = {r.name: r.config.keys or [] for r in resolved}
    for spec in config.denormalize:
        expected = expected_denormalized(spec, replicas)
        actual = read_target(spark, target, schema, spec.name, expected)
        results.append(compare(spec.name, expected, actual, keys[spec.fact.table]))
    return results


class _Borrowed:
    """A connection lent to the catalog, which closes what it opens: kept open here."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def cursor(self) -> Any:
        return self._conn.cursor()

    def close(self) -> None:
        return None


class CannotConnectError(RuntimeError):
    """The source or the warehouse refused the connection; names which, never credentials."""


def verify_job(config: JobConfig) -> list[Difference]:
    """Connect to the job's source database and warehouse, and compare every table."""
    import pymysql

    from runtime.session import spark_session
    from sinks.redshift.connection import settings_of

    assert isinstance(config.source, KafkaSource | KinesisSource) and config.source.database
    assert isinstance(config.target, RedshiftTarget)
    database = config.source.database
    key = config.tokenization()
    source_password = config.source_password().get_secret_value()
    target_settings = settings_of(config.target, config.warehouse_password())
    try:
        source = pymysql.connect(
            host=database.host,
            port=database.port,
            user=database.user,
            password=source_password,
            connect_timeout=10,
        )
    except Exception as exc:
        raise CannotConnectError(
            f"cannot connect to the source ({type(exc).__name__}): {exc}"
        ) from None
    try:
        target = target_settings.connect()
    except Exception as exc:
        source.close()
        raise CannotConnectError(
            f"cannot connect to the warehouse ({type(exc).__name__}): {exc}"
        ) from None
    spark = spark_session(f"{config.name}-verify")
    try:
        return verify(spark, config, source, target, key)
    finally:
        source.close()
        target.close()


def _col(value: str) -> Any:
    alias, column = reference(value)
    return F.col(f"`{alias}`.`{column}`")

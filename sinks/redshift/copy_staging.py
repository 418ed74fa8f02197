"""Stage a batch into PostgreSQL from the executors: `COPY ... FROM STDIN`, a stream per
partition, so no row of the batch passes through the driver."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from sinks.redshift.connection import ConnectionSettings
from sinks.redshift.statements import quote

__all__ = ["as_utc_text", "copy_from_executors"]


def as_utc_text(df: DataFrame, name: str) -> Column:
    """Timestamps travel as text in the session time zone (UTC, see runtime/session.py).

    As Python datetimes they would be shifted to the executor's local time zone.
    """
    if df.schema[name].dataType.simpleString() != "timestamp":
        return F.col(f"`{name}`")
    return F.date_format(F.col(f"`{name}`"), "yyyy-MM-dd HH:mm:ss.SSSSSS").alias(name)


def copy_from_executors(settings: ConnectionSettings, rows: DataFrame, target: str) -> None:
    """Stream `rows` into the (qualified, quoted) `target` table, one COPY per partition."""
    names = list(rows.columns)
    rows.foreachPartition(lambda part: _copy_rows(settings, target, names, part))


def _copy_rows(
    settings: ConnectionSettings, target: str, names: Sequence[str], rows: Iterator[Row]
) -> None:
    """Runs on an executor: stream one partition into the staging table."""
    conn = settings.connect()
    try:
        with conn.cursor() as cur:
            columns = ", ".join(quote(n) for n in names)
            with cur.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(tuple(row))
        conn.commit()
    finally:
        conn.close()

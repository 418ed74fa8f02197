"""The current rows of a MySQL/MariaDB table, as the transport would have sent them.

`jobs/verify.py` runs the job's own transforms over these rows, so each value is
encoded as the transport writes it: DMS's text (`dms_text`), or as the Debezium connector
of `local/connectors/` encodes it (`debezium_text`: JSON converter,
`time.precision.mode=adaptive_time_microseconds`, `decimal.handling.mode=string`):

  DATE                  days since 1970-01-01
  DATETIME(0..3)        milliseconds since 1970-01-01T00:00 (the wall time read as UTC)
  DATETIME(4..6)        microseconds since then
  TIME                  microseconds of the day
  TIMESTAMP             ISO-8601 text in UTC
  DECIMAL, text, ints   their text
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from transforms.types import time_text

__all__ = ["debezium_text", "dms_text", "read_rows"]
_NAME = re.compile(r"^[A-Za-z0-9_$-]{1,128}$")
_EPOCH = dt.date(1970, 1, 1)


def _micros(duration: dt.timedelta) -> int:
    """A TIME value (PyMySQL's timedelta, negative ones too) in whole microseconds."""
    return duration // dt.timedelta(microseconds=1)


def debezium_text(value: Any, data_type: str, precision: int | None) -> str | None:
    """One column value as the text of its Debezium JSON encoding."""
    if value is None:
        return None
    kind = data_type.lower()
    if kind == "date":
        return str((value - _EPOCH).days)
    if kind == "datetime":
        micros = calendar.timegm(value.timetuple()) * 1_000_000 + value.microsecond
        return str(micros if (precision or 0) > 3 else micros // 1000)
    if kind == "timestamp":
        utc = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return str(utc.astimezone(dt.UTC).isoformat()).replace("+00:00", "Z")
    if kind == "time":
        return str(_micros(value))
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def dms_text(value: Any, data_type: str, precision: int | None) -> str | None:
    """One column value as AWS DMS writes it: dates and times as text, in UTC."""
    del precision  # DMS writes every fraction digit MySQL keeps
    if value is None:
        return None
    kind = data_type.lower()
    if kind in ("datetime", "timestamp"):
        moment = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
        return str(moment.strftime("%Y-%m-%d %H:%M:%S.%f"))
    if kind == "date":
        return str(value.isoformat())
    if kind == "time":
        return time_text(_micros(value))
    return debezium_text(value, data_type, None)


Encoder = Callable[[Any, str, int | None], str | None]


def read_rows(
    conn: Any,
    database: str,
    table: str,
    columns: Sequence[str],
    encode: Encoder = debezium_text,
) -> list[tuple[str | None, ...]]:
    """Every row of `database.table`, the named columns encoded like the transport's
    records (`debezium_text` for Debezium, `dms_text` for DMS).

    `conn` is a DB-API connection (PyMySQL). Reads in one consistent snapshot.
    """
    cur = conn.cursor()
    cur.execute(
        "SELECT COLUMN_NAME, DATA_TYPE, DATETIME_PRECISION FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (database, table),
    )
    types = {str(name): (str(kind), precision) for name, kind, precision in cur.fetchall()}
    missing = [c for c in columns if c not in types]
    if missing:
        raise ValueError(f"{database}.{table}: no column(s) {missing} in the source database")
    listed = ", ".join(_quoted(c) for c in columns)
    cur.execute(f"SELECT {listed} FROM {_quoted(database)}.{_quoted(table)}")
    return [
        tuple(encode(v, *types[c]) for c, v in zip(columns, row, strict=True))
        for row in cur.fetchall()
    ]


def _quoted(name: str) -> str:
    """A MySQL identifier in backquotes; names the config did not vet are refused."""
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a plain MySQL identifier")
    return f"`{name}`"

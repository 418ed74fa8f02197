"""Source column types -> Spark types, and how each transport writes their values.

A column a table does not declare is discovered: its database type (from the source's
catalog) says which Spark type it gets, and the transport (Debezium JSON, DMS) says how
its value is written; `decode_value` turns the text of the value into the Spark type,
with no expression from the user. The mapping is a table in docs/sources.md (*Types*);
in short: TINYINT(1) and BIT(1) are booleans, unsigned integers widen to the next type,
DECIMAL keeps precision and scale (every digit), DATE/DATETIME/TIMESTAMP become date and
timestamp whatever their encoding (Debezium: days, milliseconds or microseconds since
1970, ISO text; DMS: text), TIME becomes `[-]HH:MM:SS.ffffff` text (a duration, as MySQL
writes it), everything else text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pyspark.sql import Column
from pyspark.sql import functions as F

__all__ = [
    "DatabaseColumn",
    "Encoding",
    "SourceColumn",
    "decode_value",
    "quote",
    "spark_type",
    "sql_string",
    "time_text",
    "widens",
]

# How a transport writes a value, as far as decoding it goes.
Encoding = Literal[
    "text",
    "epoch_days",
    "epoch_millis",
    "epoch_micros",
    "micros_of_day",
    "boolean",
    "unsigned_long",
]
_INTEGRAL = ("tinyint", "smallint", "int", "bigint")
_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")


@dataclass(frozen=True)
class DatabaseColumn:
    """A column as the source database's catalog describes it (MySQL/MariaDB names)."""

    name: str
    data_type: str  # information_schema DATA_TYPE: int, varchar, datetime, decimal, ...
    column_type: str = ""  # COLUMN_TYPE: tinyint(1), int(10) unsigned, enum('a','b'), ...
    precision: int | None = None  # NUMERIC_PRECISION, or DATETIME_PRECISION for times
    scale: int | None = None


@dataclass(frozen=True)
class SourceColumn:
    """A column of a replicated table: its Spark type and how its values arrive."""

    name: str
    type: str  # a Spark type of the config's vocabulary: int, decimal(10,2), timestamp...
    encoding: Encoding = "text"


def spark_type(column: DatabaseColumn) -> str:
    """The Spark type a database column is replicated as (the module's table)."""
    kind = column.data_type.lower()
    full = column.column_type.lower()
    unsigned = "unsigned" in full
    if full.startswith(("tinyint(1)", "bit(1)")) or kind in ("bool", "boolean"):
        return "boolean"
    if kind in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"):
        return _integer(kind, unsigned)
    if kind in ("decimal", "numeric"):
        precision, scale = column.precision or 10, column.scale or 0
        return f"decimal({precision},{scale})" if precision <= 38 else "string"
    if kind == "float":
        return "float"
    if kind in ("double", "real", "double precision"):
        return "double"
    if kind == "date":
        return "date"
    if kind in ("datetime", "timestamp"):
        return "timestamp"
    return "string"


def _integer(kind: str, unsigned: bool) -> str:
    signed = {"tinyint": "tinyint", "smallint": "smallint", "mediumint": "int", "year": "int"}
    if not unsigned:
        return signed.get(kind, "bigint" if kind == "bigint" else "int")
    wider = {"tinyint": "smallint", "smallint": "int", "mediumint": "int", "int": "bigint"}
    return wider.get(kind, "bigint" if kind == "integer" else "decimal(20,0)")


def debezium_column(column: DatabaseColumn) -> SourceColumn:
    """How Debezium's MySQL connector writes the column in JSON
    (`time.precision.mode=adaptive_time_microseconds`, `decimal.handling.mode=string`)."""
    kind = column.data_type.lower()
    target = spark_type(column)
    if kind == "date":
        return SourceColumn(column.name, target, "epoch_days")
    if kind == "datetime":
        encoding: Encoding = "epoch_micros" if (column.precision or 0) > 3 else "epoch_millis"
        return SourceColumn(column.name, target, encoding)
    if kind == "time":
        return SourceColumn(column.name, target, "micros_of_day")
    if kind == "bigint" and "unsigned" in column.column_type.lower():
        return SourceColumn(column.name, target, "unsigned_long")
    if target == "boolean":
        return SourceColumn(column.name, target, "boolean")
    return SourceColumn(column.name, target)


def dms_column(column: DatabaseColumn) -> SourceColumn:
    """How AWS DMS writes the column (JSON or CSV): dates and times as text."""
    target = spark_type(column)
    return SourceColumn(column.name, target, "boolean" if target == "boolean" else "text")


def decode_value(name: str, column: SourceColumn) -> Column:
    """The text in column `name` as `column`'s Spark type; NULL when it does not decode."""
    if column.encoding == "epoch_days":
        return F.date_from_unix_date(_within(name, "int", _DAYS))
    # Out of years 1-9999 a number is no DATETIME; Spark's millisecond conversion would
    # fail the whole batch on an overflow, not just the record.
    if column.encoding == "epoch_millis":
        return F.timestamp_millis(_within(name, "bigint", _MILLIS))
    if column.encoding == "epoch_micros":
        return F.timestamp_micros(_within(name, "bigint", _MICROS))
    if column.encoding == "micros_of_day":
        return _time_of(_within(name, "bigint", (-_TIME_MICROS, _TIME_MICROS)))
    if column.encoding == "unsigned_long":
        # Debezium's default `bigint.unsigned.handling.mode=long` sends a BIGINT UNSIGNED
        # past 2^63 - 1 as the Java long of its bits: a negative number, 2^64 below it.
        whole = F.col(quote(name)).rlike(r"^\s*[+-]?\d+\s*$")
        value = F.when(whole, _within(name, "decimal(20,0)", (-(2**63), 2**64 - 1)))
        wrapped = (value + F.lit(Decimal(2**64))).cast("decimal(20,0)")
        return F.when(value < 0, wrapped).otherwise(value)
    if column.encoding == "boolean":
        lowered = F.lower(F.trim(F.col(quote(name))))
        return F.when(lowered.isin("1", "true", "t"), F.lit(True)).when(
            lowered.isin("0", "false", "f"), F.lit(False)
        )
    if column.type == "string":
        return F.col(quote(name))
    if column.type in _CALENDAR:
        # Spark casts '2021' to 2021-01-01 and '18962' (Debezium's days) to the year 18962:
        # a date or timestamp as text names its year, month and day, or it does not decode.
        return F.when(F.col(quote(name)).rlike(_YEAR_MONTH_DAY), _try(name, column.type))
    return _try(name, column.type)


_CALENDAR = ("date", "timestamp", "timestamp_ntz")
_YEAR_MONTH_DAY = r"^\s*[+-]?\d{4,}-\d{1,2}-\d{1,2}([^0-9]|$)"
# 0001-01-01 and 9999-12-31 (23:59:59.999999) since 1970-01-01
_DAYS = (-719_162, 2_932_896)
_MICROS = (-62_135_596_800_000_000, 253_402_300_799_999_999)
_MILLIS = (_MICROS[0] // 1000, _MICROS[1] // 1000)
_TIME_MICROS = 3_020_399_000_000  # MySQL's TIME spans -838:59:59 to 838:59:59


def time_text(micros: int) -> str:
    """A TIME value (a signed duration in microseconds, as Debezium sends it) as MySQL
    writes it: `[-]HH:MM:SS.ffffff`, hours past 24 included."""
    sign, rest = ("-" if micros < 0 else ""), abs(micros)
    seconds, fraction = divmod(rest, 1_000_000)
    return f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{fraction:06d}"


def _time_of(micros: Column) -> Column:
    """`time_text` in Spark (a duration, not a time of day: 25:00 stays 25:00)."""
    rest = F.abs(micros)

    def whole(unit: int) -> Column:  # rest // unit, exactly
        return ((rest - rest % unit) / unit).cast("bigint")

    text = F.format_string(
        "%s%02d:%02d:%02d.%06d",
        F.when(micros < 0, F.lit("-")).otherwise(F.lit("")),
        whole(3_600_000_000),
        whole(60_000_000) % 60,
        whole(1_000_000) % 60,
        rest % 1_000_000,
    )
    return F.when(micros.isNotNull(), text)


def _within(name: str, type_name: str, bounds: tuple[int, int]) -> Column:
    """The text as `type_name` (whole numbers only for int and bigint: `try_cast` rounds a
    decimal's fraction) within `bounds`; NULL otherwise."""
    value = _try(name, type_name)
    low, high = (F.lit(Decimal(b)).cast(type_name) for b in bounds)  # past a Java long too
    return F.when(value.between(low, high), value)


def _try(name: str, type_name: str) -> Column:
    """`try_cast`: NULL, never an error (ANSI mode or not), when the text is not a value."""
    return F.expr(f"try_cast({quote(name)} AS {type_name})")


def quote(name: str) -> str:
    """A Spark SQL identifier: in backticks, a backtick doubled."""
    return "`" + name.replace("`", "``") + "`"


def sql_string(value: str) -> str:
    """A Spark SQL string literal: in single quotes, backslashes and quotes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def widens(old: str, new: str) -> bool:
    """Whether a column may change from Spark type `old` to `new` with no value lost:
    a wider integer, float to double, an integer to double, a decimal with more digits."""
    if old == new:
        return True
    if old in _INTEGRAL and new in _INTEGRAL:
        return _INTEGRAL.index(new) > _INTEGRAL.index(old)
    if (old == "float" and new == "double") or (old in _INTEGRAL[:3] and new == "double"):
        return True
    before, after = _DECIMAL.match(old), _DECIMAL.match(new)
    if before and after:
        p1, s1, p2, s2 = (int(g) for g in (*before.groups(), *after.groups()))
        return s2 >= s1 and p2 - s2 >= p1 - s1
    if before is None and after and old in _INTEGRAL:
        p2, s2 = (int(g) for g in after.groups())
        return p2 - s2 >= {"tinyint": 3, "smallint": 5, "int": 10, "bigint": 19}[old]
    return False

"""The MERGE statements of a batch, as Spark SQL on Iceberg tables: type 1's two
(changes, keys) and SCD type 2's two (history, events).

Conditions are built as Columns with the helpers the MERGE engines share
(sinks/merge_scope.py: target `t`, source `s`) and rendered to SQL by Catalyst
(`Expression.sql`), which quotes names and writes literals as SQL literals; the one
exception is a list of partitions, written as typed SQL literals by sinks/merge_scope.py
(one parse instead of thousands of calls into the JVM). Conditions on target columns
only (the batch's key range, its partitions) are pushed into Iceberg's scan of the
target, which skips the files whose partition or column bounds lie outside.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sinks.scd2 import IS_CURRENT, VALID_TO
from transforms.names import DELETED, DELETED_AT, OP, POS, SEQ
from transforms.ordering import newer_than
from transforms.types import quote

__all__ = [
    "canonical",
    "insert_sql",
    "merge_changes_sql",
    "merge_events_sql",
    "merge_history_sql",
    "merge_keys_sql",
    "sql_of",
    "stored",
]

# Iceberg reserves `_pos` and `_deleted` for its metadata columns: every table the engines
# create stores them under these names, renamed at its boundary (sinks/decide.py and
# sinks/scd2.py keep their own names).
STORED = {POS: "_cdc_pos", DELETED: "_cdc_deleted"}


def stored(frame: DataFrame) -> DataFrame:
    """Rows under the canonical names (sinks/decide.py's, sinks/scd2.py's) as the Iceberg
    tables store them."""
    return frame.withColumnsRenamed(STORED)


def canonical(frame: DataFrame) -> DataFrame:
    """An Iceberg table of the engines under the canonical names."""
    return frame.withColumnsRenamed({v: k for k, v in STORED.items()})


def sql_of(condition: Column) -> str:
    """A Column as Spark SQL text."""
    return str(condition._jc.expr().sql())


def merge_changes_sql(table: str, source: str, columns: Sequence[str], on: Column) -> str:
    """Accepted changes (`columns` + `_op`): delete, update or insert by `_op`."""
    names = [quote(c) for c in columns]
    sets = ", ".join(f"t.{c} = s.{c}" for c in names)
    return (
        f"MERGE INTO {table} t USING {source} s ON {sql_of(on)} "
        f"WHEN MATCHED AND s.{OP} = 'D' THEN DELETE "
        f"WHEN MATCHED THEN UPDATE SET {sets} "
        f"WHEN NOT MATCHED AND s.{OP} != 'D' THEN INSERT ({', '.join(names)}) "
        f"VALUES ({', '.join(f's.{c}' for c in names)})"
    )


def insert_sql(table: str, source: str, columns: Sequence[str], where: str = "TRUE") -> str:
    """Add the `source` rows matching `where` to a table that holds nothing for their keys
    (its `columns`, by name): what each MERGE of a batch comes down to on empty tables."""
    names = ", ".join(quote(c) for c in columns)
    return f"INSERT INTO {table} ({names}) SELECT {names} FROM {source} WHERE {where}"


def _expired(before: datetime | None) -> Column:
    """sinks/decide.py's `expired` of a key-table row, in the stored names."""
    if before is None:
        return F.lit(False)
    written = F.col(f"t.{DELETED_AT}") < F.lit(before)
    return F.coalesce(F.col(f"t.{STORED[DELETED]}") & written, F.lit(False))


def merge_keys_sql(
    table: str,
    source: str,
    on: Column,
    *,
    scope: Column,
    expired_before: datetime | None,
    delete_expired: bool = True,
) -> str:
    """Record accepted changes (`stored` names) in the key table; a held newer state is
    never replaced unless it is an expired tombstone, and in the same commit, with
    `delete_expired`, the expired tombstones of other keys within `scope` (target columns
    only) are deleted. That clause makes Spark read every file of the key table (a row
    outside the scope is still a row the clause must see), so the caller drops it when it
    knows the scope holds no expired tombstone (sinks/file_ranges.py)."""
    pos = STORED[POS]
    newer = newer_than(F.col(f"s.{SEQ}"), F.col(f"s.{pos}"), F.col(f"t.{SEQ}"), F.col(f"t.{pos}"))
    expired = _expired(expired_before)
    statement = (
        f"MERGE INTO {table} t USING {source} s ON {sql_of(on)} "
        f"WHEN MATCHED AND ({sql_of(newer | expired)}) THEN UPDATE SET * "
        "WHEN NOT MATCHED THEN INSERT *"
    )
    if expired_before is None or not delete_expired:  # nothing to delete
        return statement
    return f"{statement} WHEN NOT MATCHED BY SOURCE AND ({sql_of(scope & expired)}) THEN DELETE"


def merge_history_sql(
    table: str, source: str, columns: Sequence[str], on: Column, *, expired: str, new: str
) -> str:
    """SCD type 2 versions (sinks/scd2_merge.py `versions`, `stored` names) into the
    history on (keys, `_cdc_pos`): an expired version is deleted, a held one gets its
    interval (only when it changed: on merge-on-read an update is a delete file and a
    new row), a new one is inserted with `columns`."""
    names = [quote(c) for c in columns]
    interval = (quote(VALID_TO), quote(IS_CURRENT))
    same = " AND ".join(f"t.{c} <=> s.{c}" for c in interval)
    return (
        f"MERGE INTO {table} t USING {source} s ON {sql_of(on)} "
        f"WHEN MATCHED AND s.{expired} THEN DELETE "
        f"WHEN MATCHED AND NOT ({same}) THEN UPDATE SET "
        f"{', '.join(f't.{c} = s.{c}' for c in interval)} "
        f"WHEN NOT MATCHED AND s.{new} AND NOT s.{expired} THEN INSERT ({', '.join(names)}) "
        f"VALUES ({', '.join(f's.{c}' for c in names)})"
    )


def merge_events_sql(
    table: str, source: str, columns: Sequence[str], on: Column, *, expired: str, expiring: bool
) -> str:
    """SCD type 2 events (sinks/scd2_merge.py `event_rows`, `stored` names) into the events
    table on (keys, `_cdc_pos`): the new ones are inserted; when history expires
    (`expiring`), the expired ones are deleted. Without it the statement only inserts,
    which Spark plans as an append of the rows the table lacks."""
    names = [quote(c) for c in columns]
    delete = f"WHEN MATCHED AND s.{expired} THEN DELETE " if expiring else ""
    return (
        f"MERGE INTO {table} t USING {source} s ON {sql_of(on)} {delete}"
        f"WHEN NOT MATCHED AND NOT s.{expired} THEN INSERT ({', '.join(names)}) "
        f"VALUES ({', '.join(f's.{c}' for c in names)})"
    )

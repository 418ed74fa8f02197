"""Stage every table of a source batch into PostgreSQL in ONE Spark job.

Staged table by table, a batch of 200 tables ran 200 Spark jobs (each a shuffle for the
last change per key and a COPY per partition), and a Spark job has a fixed cost that a
table of a few hundred changes does not amortize (docs/benchmarks.md, *What a table
costs*). Here the tables' changes travel as text in one frame: one shuffle keeps the
last change of each (table, key), every partition streams its rows into the staging
tables they belong to, a `COPY ... FROM STDIN` per table it holds. A table typed as text
by the one program of a batch's plain tables (runtime/shared.py) is a `TextPart`: its rows
are picked from that program's frame, already text, with no select of its own.

Text loses nothing the staging columns can hold: the warehouse's column types are
scalars and decimals (dialect.py), whose Spark text PostgreSQL parses back to the same
value; timestamps travel in the session's time zone (UTC), like the per-table path.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DoubleType, FloatType, TimestampType

from sinks.base import TextChanges
from sinks.redshift.connection import ConnectionSettings
from sinks.redshift.statements import quote
from transforms.frames import union_all
from transforms.names import POS, REPLICA, SEQ
from transforms.ordering import latest_per_key
from transforms.shared_types import KEY, TIMESTAMP_TEXT, VALUES, text_changes
from transforms.types import quote as spark_name
from transforms.types import sql_string

__all__ = ["CopyPart", "TextPart", "copy_grouped", "copy_tables", "staged_text"]

_TABLE, _KEY, _VALUES = "__table", "__key", "__values"
_Key = TypeVar("_Key", bound=Hashable)  # what names a row's table: a staging table, a name


@dataclass(frozen=True)
class CopyPart:
    """One table's part of the batch: its changes and the staging table they go to."""

    target: str  # the staging table, qualified and quoted
    columns: Sequence[str]  # the staging table's columns, in the order they are sent
    changes: DataFrame  # holds every column of `columns`
    keys: Sequence[str]
    every_change: bool = False  # SCD type 2: every change is a version, none collapsed


@dataclass(frozen=True)
class TextPart:
    """One table's part of the batch typed as text already, with other tables' (sinks/
    base.py `TextChanges`: its columns, then `_op`, `_seq`, `_pos`), and its staging table."""

    target: str
    columns: Sequence[str]
    changes: TextChanges


def staged_text(parts: Sequence[CopyPart | TextPart]) -> DataFrame:
    """(staging table, values as text) of every part: the last change per key of each
    table (every change of an `every_change` one), grouped by table in each partition."""
    latest: list[DataFrame] = []
    every: list[DataFrame] = []
    texts = [p for p in parts if isinstance(p, TextPart)]
    for part in parts:
        if isinstance(part, TextPart):
            continue
        types = {f.name: f.dataType for f in part.changes.schema.fields}
        keys = ", ".join(_key_text(k, types[k]) for k in part.keys)
        values = ", ".join(_text(c, types[c]) for c in part.columns)
        # One expression a column, sent as SQL text: built as Column objects, a table of
        # ten columns cost about 60 calls into the JVM (21 ms a table, 4 s at 200).
        rows = part.changes.selectExpr(
            f"{sql_string(part.target)} AS {_TABLE}",
            f"array({keys}) AS {_KEY}",
            f"array({values}) AS {_VALUES}",
            spark_name(SEQ),
            spark_name(POS),
        )
        (every if part.every_change else latest).append(rows)
    if texts:
        latest.append(_text_rows(texts))
    frames = [_few(union_all(latest)).transform(latest_per_key([_TABLE, _KEY]))] if latest else []
    frames += [_few(union_all(every))] if every else []
    return union_all(frames).select(_TABLE, _VALUES).sortWithinPartitions(_TABLE)


def copy_tables(settings: ConnectionSettings, parts: Sequence[CopyPart | TextPart]) -> None:
    """Every part into its staging table (created already), in one Spark job."""
    if not parts:
        return
    targets = {p.target: (p.target, list(p.columns)) for p in parts}
    copy_grouped(settings, staged_text(parts), targets)


def _text_rows(texts: Sequence[TextPart]) -> DataFrame:
    """The changes of the tables of `texts` as `staged_text`'s rows, from each frame of
    records they share (a batch's tables typed ahead of its routing, and the others):
    each table's staging table found in one map literal (one call into the JVM)."""
    frames: dict[int, list[TextPart]] = {}
    for text in texts:
        frames.setdefault(id(text.changes.records), []).append(text)
    rows = []
    for group in frames.values():
        pairs = ", ".join(f"{sql_string(t.changes.table)}, {sql_string(t.target)}" for t in group)
        mine = F.col(REPLICA).isin(*[t.changes.table for t in group])
        rows.append(
            text_changes(group[0].changes.records)
            .where(mine)
            .select(
                F.element_at(F.expr(f"map({pairs})"), F.col(REPLICA)).alias(_TABLE),
                F.col(KEY).alias(_KEY),
                F.col(VALUES).alias(_VALUES),
                F.col(SEQ),
                F.col(POS),
            )
        )
    return union_all(rows)


def copy_grouped(
    settings: ConnectionSettings,
    rows: DataFrame,
    targets: Mapping[_Key, tuple[str, Sequence[str]]],
) -> None:
    """`rows`, (a key of `targets`, its values as text), each into the table its key
    names (qualified and quoted; the values in the order of its columns), in one Spark
    job: rows of the same key together in each partition, a COPY for each."""
    rows.toDF(_TABLE, _VALUES).foreachPartition(lambda part: _copy(settings, targets, part))


def _copy(
    settings: ConnectionSettings,
    targets: Mapping[_Key, tuple[str, Sequence[str]]],
    rows: Iterator[Row],
) -> None:
    """Runs on an executor: one connection, a COPY for each table the partition holds."""
    first = next(rows, None)
    if first is None:
        return  # an empty partition needs no connection
    conn = settings.connect()
    try:
        with conn.cursor() as cur:
            for index, group in itertools.groupby(
                itertools.chain([first], rows), key=lambda row: row[_TABLE]
            ):
                target, names = targets[index]
                columns = ", ".join(quote(n) for n in names)
                with cur.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
                    for row in group:
                        copy.write_row(row[_VALUES])
        conn.commit()
    finally:
        conn.close()


def _text(name: str, data_type: DataType) -> str:
    """A column as the text PostgreSQL reads back into the staging column's type (SQL).
    Timestamps in the session's time zone (UTC, runtime/session.py): as Python datetimes
    they would be shifted to the executor's local time zone."""
    if isinstance(data_type, TimestampType):
        return f"date_format({spark_name(name)}, '{TIMESTAMP_TEXT}')"
    return f"CAST({spark_name(name)} AS STRING)"


def _key_text(name: str, data_type: DataType) -> str:
    """A key column as text that is equal exactly when the keys are: -0.0 is 0.0 (SQL)."""
    if isinstance(data_type, FloatType | DoubleType):
        return f"CAST({spark_name(name)} + 0.0D AS STRING)"
    return _text(name, data_type)


def _few(frame: DataFrame) -> DataFrame:
    """The tables' rows read in as many tasks as there are cores: each table's records are
    a partition or more of their own, and a task per table cost 200 tasks at 200 tables
    (its staging job 11.4 s, against 3.2-3.3 s in 4 tasks: docs/benchmarks.md)."""
    return frame.coalesce(frame.sparkSession.sparkContext.defaultParallelism)

"""One program decodes and types every plain table of a batch, whatever their number.

Decoded table by table, each table's part of a batch is a query of its own: Spark
analyses, compiles and runs it apart, at a fixed cost a table whatever its rows (at 200
tables, most of a batch: docs/benchmarks.md, *What a table costs*). Here what differs
between the tables is data: their field counts, types, keys and limits sit in map
literals the program looks up by each record's table (transforms/dms_csv.py
`decode_dms_csv_widths`, transforms/shared_types.py). Every record is refused for the
same reasons as by its table's own decoder, and its values reach the target as its own
typed values would.

A table is decoded so when nothing it needs is its own program:
* the source writes DMS CSV (JSON's and Debezium's decoders are per table still);
* it has no derived columns, protection rules, `sequence_by` or `commit_ts` expression,
  is not stopped, and its target columns come in the order of its fields;
* its target stages changes as text (sinks/target.py `stages_text`): the warehouse's COPY,
  one row a key; or the lake's staging of its new tables, every table's files written by
  the tasks of one Spark job (sinks/lake/text_load.py). A lake table takes the program
  for its first batch only: after it, a batch reads what the table holds.
The other tables of the batch are decoded table by table, as before, in the same jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from config import FilesSource, TableConfig
from runtime.decoding import SourceFormat
from runtime.tables import Replica
from transforms.canonical import origin_of_rejects_only
from transforms.dms_csv import decode_dms_csv_widths
from transforms.names import REPLICA, SEP, SOURCE_SCHEMA, SOURCE_TABLE
from transforms.shared_types import TextTable, typed_as_text
from transforms.types import SourceColumn, sql_string

__all__ = ["SharedDecoding"]

_Part = tuple[tuple[str, str], TextTable]  # a table's source (schema, table) and columns
_WIDTH = "__width"
_FOUND = "__found"
_Shape = tuple[TableConfig, tuple[SourceColumn, ...], str | None]


def _shape(replica: Replica) -> _Shape:
    """What a table's part of the program depends on: its config, columns and state."""
    return replica.config, tuple(replica.columns), replica.stopped


def _text_table(replica: Replica) -> TextTable:
    """The table as the one program types it."""
    table = replica.config
    keys, output = tuple(table.keys or ()), tuple(table.output_columns)
    return TextTable(replica.name, replica.columns, keys, output, table.max_string_bytes)


class SharedDecoding:
    """The one program of a source's plain tables."""

    def __init__(self, source: SourceFormat) -> None:
        self._source = source
        # The program of the last set of tables, kept while their configs and columns
        # stay the same: a stream's batches mostly touch the same tables.
        self._built: tuple[tuple[_Part, ...], Callable[[DataFrame], DataFrame]] | None = None
        self._last: tuple[Replica, ...] = ()  # the last batch's tables of the program
        self._ahead: tuple[tuple[tuple[Replica, _Shape], ...], DataFrame] | None = None

    def takes(self, replica: Replica) -> bool:
        """Whether the table's records can be decoded by the one program (the target
        must also stage them as text: the caller asks it)."""
        source, table = self._source.source, replica.config
        return (
            isinstance(source, FilesSource)
            and source.format == "dms-csv"
            and replica.stopped is None
            and not (table.derived or table.protect or table.sequence_by or table.commit_ts)
            and _text_table(replica).in_field_order
        )

    def ahead(self, routed: DataFrame, shares: Callable[[Replica], bool]) -> DataFrame | None:
        """The records of the last batch's tables of the program that it still `shares`,
        decoded before the routing says the batch holds any, so that their counts come
        with the routing's job (runtime/routing.py): a stream's batches mostly touch the
        same tables. None when there are none."""
        self._ahead = None
        last = tuple(r for r in self._last if shares(r))
        if last:
            shapes = tuple((r, _shape(r)) for r in last)  # as the program decodes them
            self._ahead = (shapes, self.records(routed, last))
        return self._ahead[1] if self._ahead else None

    def release(self) -> None:
        """Let go of the records decoded ahead, once the batch is done with them."""
        if self._ahead is not None:
            self._ahead[1].unpersist()

    def decoded(
        self, routed: DataFrame, replicas: Sequence[Replica]
    ) -> tuple[dict[str, DataFrame], DataFrame | None]:
        """The records of `replicas` (the batch's tables of the program), by table: a
        table decoded ahead and left as it was by the routing (config, columns, not
        stopped) takes the frame decoded ahead, counted already; the others take a frame
        decoded now, returned second, to be counted. Each frame is persisted."""
        ahead_tables, ahead = self._ahead if self._ahead else ((), None)
        was = {r.name: shape for r, shape in ahead_tables}
        held = [r for r in replicas if ahead is not None and was.get(r.name) == _shape(r)]
        rest = [r for r in replicas if r not in held]
        now = self.records(routed, rest) if rest else None
        self._last = tuple(replicas)
        frames = {r.name: ahead for r in held if ahead is not None}
        return frames | {r.name: now for r in rest if now is not None}, now

    def records(self, routed: DataFrame, replicas: Sequence[Replica]) -> DataFrame:
        """The batch's records of `replicas` (`routed`: the batch, routed), decoded and
        typed as text, each naming its table in `_replica`; persisted: counted, then
        applied. The record as received and its origin are kept for the rejects only."""
        records = routed.transform(self._program(replicas)).transform(origin_of_rejects_only)
        return records.persist(StorageLevel.MEMORY_AND_DISK)

    def _program(self, replicas: Sequence[Replica]) -> Callable[[DataFrame], DataFrame]:
        tables = [_text_table(r) for r in replicas]
        key = tuple(zip([r.source for r in replicas], tables, strict=True))
        if self._built is not None and self._built[0] == key:
            return self._built[1]
        source = self._source.source
        assert isinstance(source, FilesSource), "one program decodes DMS CSV files"
        entries = ", ".join(
            f"{sql_string(r.source[0] + SEP + r.source[1])}, "
            f"named_struct('name', {sql_string(r.name)}, 'width', {len(r.columns)})"
            for r in replicas
        )
        found = F.element_at(
            F.expr(f"map({entries})"),
            F.concat_ws(SEP, F.col(SOURCE_SCHEMA), F.col(SOURCE_TABLE)),
        )
        decode = decode_dms_csv_widths(
            sorted({len(r.columns) for r in replicas}),
            _WIDTH,
            [REPLICA],
            delimiter=source.csv.delimiter,
            null_value=source.csv.null_value,
            full_load_has_op=source.csv.full_load_has_op,
        )
        typed = typed_as_text(tables, REPLICA)

        def program(routed: DataFrame) -> DataFrame:
            mine = routed.withColumn(_FOUND, found).where(F.col(_FOUND).isNotNull())
            described = mine.withColumns(
                {REPLICA: F.col(f"{_FOUND}.name"), _WIDTH: F.col(f"{_FOUND}.width")}
            )
            return described.transform(decode).transform(typed)

        self._built = (key, program)
        return program

"""How one source's records are routed to tables and decoded: config wired to transforms.

The transforms take plain values (column names, types, encodings); this module reads the
config's source section and a resolved table (runtime/tables.py) and picks them.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from config import FilesSource, KafkaSource, KinesisSource
from runtime.tables import Replica
from sources.parquet_read import read_in_table_types
from transforms.coerce import coerce_types
from transforms.debezium_json import decode_debezium_json
from transforms.dms_csv import decode_dms_csv
from transforms.dms_json import decode_dms_json
from transforms.dms_parquet import decode_dms_parquet
from transforms.frames import empty_frame
from transforms.names import (
    BLOCK,
    ERROR,
    FILE,
    KINESIS_POSITION,
    RAW,
    RAW_KEY,
    SOURCE_FILE,
    SOURCE_SCHEMA,
    SOURCE_TABLE,
)
from transforms.route import by_dms_metadata, by_landing_folder, by_topic
from transforms.types import DatabaseColumn, SourceColumn, debezium_column, dms_column, quote

__all__ = ["SourceFormat"]

Source = FilesSource | KafkaSource | KinesisSource
_Transform = Callable[[DataFrame], DataFrame]


class SourceFormat:
    """Routing and decoding of one source; `root` is a files source's qualified root."""

    def __init__(
        self, source: Source, root: str | None = None, table: tuple[str, str] | None = None
    ) -> None:
        self.source = source
        self._root = root
        self._table = table  # a landing folder of one table (its `path`)
        # Each table's decoder, kept while its config and columns stay the same: its plan
        # is built once (hundreds of calls into the JVM) and reused batch after batch.
        self._typed: dict[str, tuple[object, tuple[SourceColumn, ...], _Transform]] = {}

    @property
    def reads_files(self) -> bool:
        """Whether a batch's rows are files, each table's read by a scan of its own files
        (DMS Parquet), rather than records routed one by one."""
        return isinstance(self.source, FilesSource) and self.source.format == "dms-parquet"

    def encode(self, column: DatabaseColumn) -> SourceColumn:
        """How this transport writes a discovered column (transforms/types.py)."""
        if self.source.format == "debezium-json":
            return debezium_column(column)
        return dms_column(column)

    def route(self, raw: DataFrame) -> DataFrame:
        """`_schema` and `_table` of every record."""
        source = self.source
        if isinstance(source, KafkaSource):
            return raw.transform(by_topic(source.topic_prefix))
        if isinstance(source, KinesisSource):
            partition_key = F.regexp_extract(F.col(FILE), r"/([^/]*)$", 1)
            return raw.transform(by_dms_metadata(partition_key))
        if self._table is not None:
            schema, table = self._table
            return raw.select(
                "*", F.lit(schema).alias(SOURCE_SCHEMA), F.lit(table).alias(SOURCE_TABLE)
            )
        assert self._root is not None, "a files source routes by its root"
        return raw.transform(by_landing_folder(self._root))

    def fields_seen(self) -> Column:
        """An aggregate: the field names of the row images the records carry (JSON)."""
        # Coalesce stops at the first path found: the usual shape first, one parse a record.
        images = {"debezium-json": ["$.after", "$.payload.after"], "dms-json": ["$.data"]}
        paths = images.get(self.source.format)
        if paths is None:
            return F.first(F.array().cast("array<string>"))
        image = F.coalesce(*[F.get_json_object(F.col("value"), p) for p in paths])
        keys = F.json_object_keys(image)
        return F.array_distinct(F.flatten(F.collect_set(keys)))

    def unrouted(self, rows: DataFrame) -> DataFrame:
        """Records that belong to no table, shaped for the quarantine. A DMS Parquet file
        outside every table's folder is one entry, its path, unread (no table, no types)."""
        if self.reads_files:
            reason = (
                "the file is in no table's folder (<schema>/<table>/ under the landing "
                "root, where DMS writes a table's files): not read"
            )
            return rows.select(
                F.lit(reason).alias(ERROR),
                F.col(FILE).alias(SOURCE_FILE),
                F.lit(None).cast("string").alias(RAW),
                F.lit(None).cast("string").alias(RAW_KEY),
            )
        key = F.lit(None).cast("string")
        if isinstance(self.source, KafkaSource):
            where = F.concat_ws("/", "topic", "partition", "offset")
            key = F.col("key").cast("string")
        else:
            where = F.col(FILE)
        return rows.select(
            F.lit("the record names no table (unreadable, or not a change of a table)").alias(
                ERROR
            ),
            where.alias(SOURCE_FILE),
            F.col("value").cast("string").alias(RAW),
            key.alias(RAW_KEY),
        )

    def typed_records(self, replica: Replica) -> _Transform:
        """One table's raw rows -> typed records, each with `_error` NULL or its reasons."""
        kept = self._typed.get(replica.name)
        if kept is not None and kept[0] is replica.config and kept[1] == replica.columns:
            return kept[2]
        table = replica.config
        decode = self._decoder(replica)
        coerce = coerce_types(replica.columns, table.keys or [], table.max_string_bytes)

        def transform(raw: DataFrame) -> DataFrame:
            if isinstance(self.source, FilesSource) and self.reads_files:
                raw = _parquet_rows(raw, replica, self.source.timestamp_column)
            return raw.transform(decode).transform(coerce)

        self._typed[replica.name] = (replica.config, replica.columns, transform)
        return transform

    def _decoder(self, replica: Replica) -> _Transform:
        """The envelope decoder of the source's format, for one table."""
        source, table = self.source, replica.config
        columns: tuple[SourceColumn, ...] = replica.columns
        if isinstance(source, KafkaSource):
            names = [c.name for c in columns]
            return decode_debezium_json(
                names, database=table.source_schema, table=table.source_name
            )
        if isinstance(source, KinesisSource):
            return decode_dms_json(
                columns,
                schema_name=table.source_schema,
                table_name=table.source_name,
                keys=table.keys or [],
                position=F.col(KINESIS_POSITION),
                before_image_field=source.before_image_field,
            )
        if source.format == "dms-csv":
            return decode_dms_csv(
                [c.name for c in columns],
                delimiter=source.csv.delimiter,
                null_value=source.csv.null_value,
                full_load_has_op=source.csv.full_load_has_op,
            )
        if source.format == "dms-json":
            return decode_dms_json(
                columns,
                schema_name=table.source_schema,
                table_name=table.source_name,
                keys=table.keys or [],
            )
        return decode_dms_parquet([c.name for c in columns], commit_column=source.timestamp_column)


def _parquet_rows(files: DataFrame, replica: Replica, commit_column: str | None) -> DataFrame:
    """The rows of a table's Parquet files of the batch (one driver look-up of their names),
    in the table's types whatever types each file stores (sources/parquet_read.py), with
    DMS's `Op` and DMS's commit-time column (text)."""
    paths = sorted({str(r[FILE]) for r in files.select(FILE).distinct().collect()})
    names = {c.name for c in replica.columns}
    dms = [(commit_column, "string")] if commit_column and commit_column not in names else []
    columns = [("Op", "string"), *[(c.name, c.type) for c in replica.columns], *dms]
    if not paths:
        ddl = ", ".join(f"{quote(name)} {kind}" for name, kind in columns)
        extra = f"{FILE} string, {BLOCK} bigint, {RAW} string, {ERROR} string"
        return empty_frame(files.sparkSession, f"{ddl}, {extra}")
    return read_in_table_types(files.sparkSession, paths, columns)

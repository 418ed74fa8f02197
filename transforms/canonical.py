"""From raw records to the canonical change of docs/design.md, and the rejects."""

from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config import FilesSource, KafkaSource, KinesisSource, TableConfig
from transforms.coerce import coerce_types
from transforms.debezium_json import decode_debezium_json
from transforms.derive import add_derived
from transforms.dms_csv import decode_dms_csv
from transforms.dms_json import decode_dms_json
from transforms.dms_parquet import decode_dms_parquet
from transforms.names import APPLIED_OPS, COMMIT_TS, ERROR, KINESIS_POSITION, OP, OP_LOAD, POS, SEQ
from transforms.privacy import protect
from transforms.sequence import encode_sequence


def decoder(
    source: FilesSource | KafkaSource | KinesisSource, table: TableConfig
) -> Callable[[DataFrame], DataFrame]:
    """The envelope decoder of the source's format, for one table."""
    names = table.column_names
    if source.format == "debezium-json":
        return decode_debezium_json(names, database=table.source_schema, table=table.source_name)
    if isinstance(source, KinesisSource):
        return decode_dms_json(
            names,
            schema_name=table.source_schema,
            table_name=table.source_name,
            keys=table.keys,
            position=F.col(KINESIS_POSITION),
            before_image_field=source.before_image_field,
        )
    if source.format == "dms-csv":
        return decode_dms_csv(
            names,
            delimiter=source.csv.delimiter,
            null_value=source.csv.null_value,
            full_load_has_op=source.csv.full_load_has_op,
        )
    if source.format == "dms-json":
        return decode_dms_json(
            names, schema_name=table.source_schema, table_name=table.source_name, keys=table.keys
        )
    return decode_dms_parquet(names)


def typed_records(
    source: FilesSource | KafkaSource | KinesisSource, table: TableConfig
) -> Callable[[DataFrame], DataFrame]:
    """Raw source rows -> typed records, each with `_error` NULL or its reasons."""

    def transform(raw: DataFrame) -> DataFrame:
        return raw.transform(decoder(source, table)).transform(
            coerce_types(table.columns, table.keys, table.max_string_bytes)
        )

    return transform


def split_rejected(records: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(records to apply, records to quarantine); skipped records are in neither."""
    good = records.where(F.col(ERROR).isNull() & F.col(OP).isin(*APPLIED_OPS, OP_LOAD))
    rejected = records.where(F.col(ERROR).isNotNull())
    return good, rejected


def target_columns(table: TableConfig) -> list[str]:
    """Columns of the target table, in order: declared, then new derived ones."""
    return table.output_columns


def canonical_changes(
    table: TableConfig, hmac_key: str | None = None
) -> Callable[[DataFrame], DataFrame]:
    """Valid typed records -> keys, payload, `_op`, `_seq`, `_pos`, `_commit_ts`.

    Full-load rows become inserts: every engine applies I and U alike, as upserts.
    Protected columns are masked or tokenized last, after derived columns and
    sequencing have seen the clear values.
    """

    def transform(good: DataFrame) -> DataFrame:
        as_insert = F.when(F.col(OP) == OP_LOAD, F.lit("I")).otherwise(F.col(OP))
        enriched = good.withColumn(OP, as_insert).transform(add_derived(table.derived))
        if table.commit_ts:
            enriched = enriched.withColumn(COMMIT_TS, F.expr(table.commit_ts).cast("timestamp"))
        sequenced = enriched.transform(encode_sequence(table.sequence_by))
        if table.protect:
            sequenced = sequenced.transform(protect(table.protect, hmac_key))
        return sequenced.select(
            *[F.col(f"`{c}`") for c in target_columns(table)], OP, SEQ, POS, COMMIT_TS
        )

    return transform


def output_types(spark: SparkSession, table: TableConfig) -> dict[str, str]:
    """The Spark type of every target column, from the config alone: no data is read.

    Runs `canonical_changes` on an empty frame of typed records, so derived columns
    and protection rules give exactly the types a batch will have.
    """
    declared = ", ".join(f"`{c.name}` {c.type}" for c in table.columns)
    empty = spark.createDataFrame(
        [], f"{OP} string, {declared}, {COMMIT_TS} timestamp, {POS} string"
    )
    # Only the plan is analysed; the key of an hmac rule never meets a value here.
    changes = empty.transform(canonical_changes(table, hmac_key="types-only"))
    return {
        f.name: f.dataType.simpleString()
        for f in changes.schema.fields
        if f.name in set(table.output_columns)
    }

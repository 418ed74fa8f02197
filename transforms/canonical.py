"""From raw records to the canonical change of docs/design.md, and the rejects."""

from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config import TableConfig, Tokenization
from config.privacy import is_email_like
from transforms.derive import add_derived
from transforms.frames import empty_frame
from transforms.names import (
    APPLIED_OPS,
    COMMIT_TS,
    ERROR,
    OP,
    OP_LOAD,
    POS,
    RAW,
    SEQ,
    SOURCE_FILE,
)
from transforms.privacy import protect
from transforms.sequence import encode_sequence


def split_rejected(records: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(records to apply, records to quarantine); skipped records are in neither."""
    good = records.where(F.col(ERROR).isNull() & F.col(OP).isin(*APPLIED_OPS, OP_LOAD))
    rejected = records.where(F.col(ERROR).isNotNull())
    return good, rejected


def origin_of_rejects_only(records: DataFrame) -> DataFrame:
    """The record as received and its origin kept for rejects only: the quarantine is
    their one reader, and a good record's are not cached (half a Debezium batch's cache;
    1M CSV lines cached 14% faster)."""
    bad = F.col(ERROR).isNotNull()
    return records.withColumns({c: F.when(bad, F.col(c)) for c in (RAW, SOURCE_FILE)})


def target_columns(table: TableConfig) -> list[str]:
    """Columns of the target table, in order: declared, then new derived ones."""
    return table.output_columns


def canonical_changes(
    table: TableConfig, tokens: Tokenization | None = None
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
            sequenced = sequenced.transform(_protect(table, tokens or Tokenization()))
        return sequenced.select(
            *[F.col(f"`{c}`") for c in target_columns(table)], OP, SEQ, POS, COMMIT_TS
        )

    return transform


def output_types(spark: SparkSession, table: TableConfig) -> dict[str, str]:
    """The Spark type of every target column, from the config alone: no data is read.

    Without derived columns or protection rules, a target column is its declared column,
    typed as declared (the config keeps types as Spark's simple strings). Otherwise
    `analysed_types` has Spark analyse the table's changes; that costs 15-30 ms a table,
    seconds at the start of a job of hundreds of tables (docs/benchmarks.md, *What a table
    costs*).
    """
    if table.derived or table.protect:
        return analysed_types(spark, table)
    kept = set(table.output_columns)
    return {c.name: c.type for c in table.columns or [] if c.name in kept}


def analysed_types(spark: SparkSession, table: TableConfig) -> dict[str, str]:
    """`output_types` by running `canonical_changes` on an empty frame of typed records,
    so that derived columns and protection rules give exactly the types a batch will have.
    """
    declared = ", ".join(f"`{c.name}` {c.type}" for c in table.columns or [])
    empty = empty_frame(spark, f"{OP} string, {declared}, {COMMIT_TS} timestamp, {POS} string")
    # Only the plan is analysed; the key of an hmac rule never meets a value here.
    changes = empty.transform(canonical_changes(table, Tokenization(key=b"types-only")))
    return {
        f.name: f.dataType.simpleString()
        for f in changes.schema.fields
        if f.name in set(table.output_columns)
    }


def _protect(table: TableConfig, tokens: Tokenization) -> Callable[[DataFrame], DataFrame]:
    """The table's protection rules with the job's tokenization settings."""
    emails = [c for c in table.protect if is_email_like(c)] if tokens.normalize_emails else []
    return protect(table.protect, tokens.key, empty_as_null=tokens.empty_as_null, normalized=emails)

"""The `tables` section: each source table and how it maps onto its target table.

Field names mirror the vocabulary of `APPLY CHANGES` (keys, sequence_by,
except_column_list) so that people who know Delta Live Tables feel at home.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from config.base import Identifier, SourceName, SparkType, Strict

__all__ = ["ColumnSpec", "DerivedColumn", "TableConfig", "TablePattern"]

HISTORY_COLUMNS = ("valid_from", "valid_to", "is_current", "_seq", "_pos")


class ColumnSpec(Strict):
    """A source column as declared by the user."""

    name: Identifier = Field(description="column name, as in the source")
    type: SparkType = Field(
        default="string",
        description="string, boolean, tinyint, smallint, int, bigint, float, double, date, "
        "timestamp or decimal(p,s)",
    )


class DerivedColumn(Strict):
    """A column computed with a Spark SQL expression; may replace a source column."""

    name: Identifier = Field(description="column name; a source column's name replaces it")
    expr: str = Field(min_length=1, description="Spark SQL expression over earlier columns")


class TableConfig(Strict):
    """One source table and how it maps onto its target table."""

    name: Identifier = Field(
        description="target table name; the lake and Delta table is <target.path>/<name>, "
        "the Iceberg table <target.namespace>.<name>"
    )
    source_schema: SourceName = Field(
        default="public",
        description="schema (MySQL: database) of the source table: DMS's folder and record "
        "metadata, Debezium's topic and source.db",
    )
    source_table: SourceName | None = Field(
        default=None, description="source table name; defaults to name"
    )
    path: str | None = Field(
        default=None,
        description="landing folder of this table; defaults to "
        "<source.path>/<source_schema>/<source_table> (DMS's layout)",
    )
    keys: list[Identifier] | None = Field(
        default=None,
        min_length=1,
        description="primary key columns (never derived); default: the source's primary key "
        "(required when the table declares its columns, and when DMS Parquet files describe "
        "it: Parquet has none)",
    )
    columns: list[ColumnSpec] | None = Field(
        default=None,
        min_length=1,
        description="{name, type} of every source column, in file order; default: "
        "discovered from the source (its catalog, records or Parquet files), and followed "
        "when it changes",
    )
    sequence_by: list[str] = Field(
        default_factory=list,
        description="SQL expressions ordering the changes of one key (e.g. a business "
        "timestamp); empty = arrival order",
    )
    commit_ts: str | None = Field(
        default=None,
        description="SQL expression of the source commit time (e.g. DMS's "
        "TimestampColumnName column): latency metrics, and SCD type 2's valid_from/valid_to "
        "(and so the history's retention)",
    )
    derived: list[DerivedColumn] = Field(
        default_factory=list,
        description="{name, expr} Spark SQL expressions applied in order; may replace a "
        "source column",
    )
    partition_by: list[Identifier] = Field(
        default_factory=list,
        description="partition columns of the lake, Delta or Iceberg table (source or derived); "
        "empty = unpartitioned",
    )
    except_column_list: list[Identifier] = Field(
        default_factory=list, description="columns not written to the target"
    )
    max_string_bytes: int | None = Field(
        default=None,
        ge=1,
        description="quarantine a record whose string value is longer (UTF-8 bytes); "
        "65535 is Redshift's VARCHAR limit",
    )
    protect: dict[Identifier, Literal["mask", "hmac", "sha256"]] = Field(
        default_factory=dict,
        description="{column: rule}: mask (every digit becomes *), hmac (keyed "
        "HMAC-SHA256, hex) or sha256 (unkeyed, weak: only to match old data)",
    )
    scd_type: Literal[1, 2] = Field(
        default=1,
        description="1: the table shows each key's latest state; 2: one row per version "
        "with valid_from, valid_to, is_current (delta, iceberg and redshift targets)",
    )

    @property
    def output_columns(self) -> list[str]:
        """Columns of the target table, in order: declared, then new derived ones."""
        names = list(self.column_names)
        names += [d.name for d in self.derived if d.name not in names]
        return [n for n in names if n not in set(self.except_column_list)]

    @property
    def source_name(self) -> str:
        return self.source_table or self.name

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns or []]

    @model_validator(mode="after")
    def _check_columns(self) -> TableConfig:
        names = self.column_names
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"columns: duplicate names {duplicates}")
        known = set(names) | {d.name for d in self.derived}
        for field, wanted in (
            ("protect", list(self.protect)),
            ("keys", self.keys or []),
            ("partition_by", self.partition_by),
            ("except_column_list", self.except_column_list),
        ):
            missing = [c for c in wanted if c not in known]
            if missing and self.columns is not None:
                raise ValueError(f"{field}: {missing} not among columns or derived columns")
        taken = set(self.output_columns) & set(HISTORY_COLUMNS)
        if self.scd_type == 2 and taken:
            raise ValueError(f"scd_type 2 adds its own columns; rename {sorted(taken)}")
        dropped = set(self.except_column_list) & (set(self.keys or []) | set(self.partition_by))
        if dropped:
            raise ValueError(f"except_column_list: cannot drop key or partition columns {dropped}")
        derived_keys = set(self.keys or []) & {d.name for d in self.derived}
        if derived_keys:
            raise ValueError(f"keys: key columns {sorted(derived_keys)} must not be derived")
        return self


def _listed(value: object) -> object:
    """One pattern may be written alone: `include: sports.*`."""
    return [value] if isinstance(value, str) else value


Patterns = Annotated[list[str], BeforeValidator(_listed)]


class TablePattern(Strict):
    """Every source table whose `schema.table` matches, replicated as the source's catalog
    describes it (columns, types, primary key), under its own name. An explicit entry
    for one of them overrides what discovery finds."""

    include: Patterns = Field(
        min_length=1,
        description="glob patterns on schema.table (sports.*, *.orders, shop.order_?); "
        "a table matching one is replicated",
    )
    exclude: Patterns = Field(
        default_factory=list, description="glob patterns of tables not to replicate"
    )

"""Decode DMS JSON records (Kinesis/Kafka target format, or JSON landing files).

One record: {"data": {...}, "metadata": {...}, "before-image": {...}?}. What DMS puts in
`metadata` depends on the endpoint settings, all handled:

* always: timestamp, record-type (data | control), operation, partition-key-type,
  schema-name, table-name;
* IncludeTransactionDetails: transaction-id, transaction-record-id, prev-transaction-id,
  prev-transaction-record-id, commit-timestamp, stream-position (commit-timestamp then
  becomes `_commit_ts`; otherwise the record's timestamp does);
* IncludePartitionValue: partition-key-value; IncludeControlDetails: a control record's
  table/column definitions; IncludeTableAlterOperations: control records whose
  operation is a table alteration (add-column, drop-column, rename-column,
  rename-table, drop-table, column-type-change).

Control records are skipped and counted; table alterations of this table get their own
mark (`OP_DDL`) so the job can say the source schema changed. A task with
BeforeImageSettings adds the row before an update: an update that changed the key then
also deletes the old key (without a before image DMS cannot tell, and the old row stays).
"""

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.frames import selects_built_once
from transforms.names import (
    COMMIT_TS,
    ERROR,
    FILE,
    OP,
    OP_CONTROL,
    OP_DDL,
    OP_LOAD,
    OP_OTHER_TABLE,
    POS,
    RAW,
    SEP,
    SOURCE_FILE,
)
from transforms.position import file_position
from transforms.types import SourceColumn

__all__ = ["BEFORE_IMAGE", "TABLE_ALTER_OPERATIONS", "decode_dms_json"]

_CORRUPT = "__corrupt"
# Appended to a record's position for the delete of the key an update changed.
BEFORE_IMAGE = SEP + "before"
_OPERATIONS = {"load": OP_LOAD, "insert": "I", "update": "U", "delete": "D"}
TABLE_ALTER_OPERATIONS = (
    "add-column",
    "drop-column",
    "rename-column",
    "rename-table",
    "drop-table",
    "column-type-change",
)
_METADATA = (
    "timestamp",
    "record-type",
    "operation",
    "partition-key-type",
    "partition-key-value",
    "schema-name",
    "table-name",
    "transaction-id",
    "transaction-record-id",
    "commit-timestamp",
    "stream-position",
)


def decode_dms_json(
    columns: Sequence[str | SourceColumn],
    *,
    schema_name: str,
    table_name: str,
    keys: Sequence[str] = (),
    position: Column | None = None,
    before_image_field: str = "before-image",
) -> Callable[[DataFrame], DataFrame]:
    """Records (`value`, `_file`, and what `position` reads) -> `_op` + one field each.

    Fields are read as text, except decimals given as `SourceColumn`s: a JSON number read
    as text passes through a double and loses digits beyond ~17, so a decimal column is
    read with its own type, exactly. `position` is the record's transport position
    (default: its place in a landing file, from `_file` and `_block`); `_file` names
    where it came from, for quarantine.
    """
    data = ", ".join(f"`{_name(c)}`: {_json_type(c)}" for c in columns)
    names = [_name(c) for c in columns]
    before = ", ".join(f"`{name}`: string" for name in keys) or "`_`: string"
    metadata = ", ".join(f"`{name}`: string" for name in _METADATA)
    schema = (
        f"data struct<{data}>, metadata struct<{metadata}>, "
        f"`{before_image_field}` struct<{before}>, {_CORRUPT} string"
    )
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}

    def stages() -> list[list[Column]]:
        parsed = [
            F.col("value").alias(RAW),
            F.col(FILE).alias(SOURCE_FILE),
            (file_position() if position is None else position).alias(POS),
            F.from_json(F.col("value"), schema, options).alias("r"),
        ]
        rows = _rows(names, schema_name, table_name, keys, before_image_field)
        return [parsed, [F.explode(rows).alias("row")], [F.col("row.*")]]

    return selects_built_once(stages)


def _rows(
    names: Sequence[str], schema_name: str, table_name: str, keys: Sequence[str], before: str
) -> Column:
    """The records of a parsed DMS record (`r`): its change, and with a before image, the
    delete of the key an update changed first."""
    meta = F.col("r.metadata")
    op, error = _operation_and_error(schema_name, table_name)
    committed = F.coalesce(
        F.to_timestamp(meta["commit-timestamp"]), F.to_timestamp(meta["timestamp"])
    )
    after = F.struct(
        op.alias(OP),
        *[F.col(f"r.data.`{name}`").alias(name) for name in names],
        committed.alias(COMMIT_TS),
        F.col(POS),
        F.col(RAW),
        F.col(SOURCE_FILE),
        error.alias(ERROR),
    )
    if not keys:
        return F.array(after)
    return F.when(
        _key_changed(keys, before) & (op == "U") & error.isNull(),
        F.array(_delete_old_key(names, keys, before, committed), after),
    ).otherwise(F.array(after))


def _name(column: str | SourceColumn) -> str:
    return column if isinstance(column, str) else column.name


def _json_type(column: str | SourceColumn) -> str:
    """How a field is read from the JSON: decimals exactly, everything else as text."""
    if isinstance(column, SourceColumn) and column.type.startswith("decimal"):
        return column.type
    return "string"


def _operation_and_error(schema_name: str, table_name: str) -> tuple[Column, Column]:
    """`_op` of a parsed record (`r`), and why it cannot be applied (NULL: it can)."""
    meta = F.col("r.metadata")
    record_type = F.lower(meta["record-type"])
    ours = (meta["schema-name"] == schema_name) & (meta["table-name"] == table_name)
    control = record_type.isin("control", "ddl")
    alters_ours = ours & F.lower(meta["operation"]).isin(*TABLE_ALTER_OPERATIONS)
    op = (
        F.when(control & alters_ours, F.lit(OP_DDL))
        .when(control, F.lit(OP_CONTROL))
        .when(~ours, F.lit(OP_OTHER_TABLE))
        .otherwise(_operation(F.lower(meta["operation"])))
    )
    error = (
        F.when(F.length(F.trim(F.col(RAW))) == 0, F.lit("empty record"))
        .when(F.col(f"r.{_CORRUPT}").isNotNull(), F.lit("malformed JSON record"))
        .when(F.col("r.metadata").isNull(), F.lit("DMS record without metadata"))
        .when(
            (record_type == "data") & F.col("r.data").isNull() & ours,
            F.lit("DMS data record without data"),
        )
    )
    return op, error


def _key_changed(keys: Sequence[str], field: str) -> Column:
    """The before image carries every key column and one differs from the new row's."""
    old = [F.col(f"r.`{field}`.`{k}`") for k in keys]
    new = [F.col(f"r.data.`{k}`") for k in keys]
    complete: Column = F.lit(True)
    differs: Column = F.lit(False)
    for o, n in zip(old, new, strict=True):
        complete = complete & o.isNotNull()
        differs = differs | ~o.eqNullSafe(n)
    return complete & differs


def _delete_old_key(
    columns: Sequence[str], keys: Sequence[str], field: str, committed: Column
) -> Column:
    """A delete of the key the row had before the update; it sorts after the update's
    own position (same record), which only matters for the old key."""
    return F.struct(
        F.lit("D").alias(OP),
        *[
            (F.col(f"r.`{field}`.`{name}`") if name in keys else F.lit(None).cast("string")).alias(
                name
            )
            for name in columns
        ],
        committed.alias(COMMIT_TS),
        F.concat(F.col(POS), F.lit(BEFORE_IMAGE)).alias(POS),
        F.col(RAW),
        F.col(SOURCE_FILE),
        F.lit(None).cast("string").alias(ERROR),
    )


def _operation(operation: Column) -> Column:
    mapped: Column = F.lit(None).cast("string")
    for name, op in _OPERATIONS.items():
        mapped = F.when(operation == name, F.lit(op)).otherwise(mapped)
    return F.coalesce(mapped, operation)

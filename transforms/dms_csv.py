"""Decode DMS S3-target CSV lines into string records.

Full-load files (LOAD*.csv) have no Op column unless DMS's includeOpForFullLoad
is set; CDC files start every line with I, U or D. Both are parsed with one
schema by prefixing full-load lines with the load marker.

`decode_dms_csv` decodes one table's lines; `decode_dms_csv_widths` the lines of many
tables at once, each line parsed as its table's field count says (runtime/shared.py):
the same parse, the same checks, the same reasons.
"""

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.frames import selects_built_once
from transforms.names import COMMIT_TS, ERROR, FILE, OP, OP_LOAD, POS, RAW, SOURCE_FILE
from transforms.position import file_position, is_full_load

__all__ = ["decode_dms_csv", "decode_dms_csv_widths", "field_name"]

_CORRUPT = "__corrupt"
_UNCLOSED = (
    "malformed CSV record: a quoted field is not closed on its line (a value with a line "
    "break is read as two records; both are quarantined)"
)


def decode_dms_csv(
    columns: Sequence[str],
    *,
    delimiter: str = ",",
    null_value: str = "",
    full_load_has_op: bool = False,
) -> Callable[[DataFrame], DataFrame]:
    """Text lines (`value`, `_file`, `_block`) -> `_op` + one string column per field."""
    return _decoder(
        {len(columns): list(columns)},
        None,
        delimiter=delimiter,
        null_value=null_value,
        full_load_has_op=full_load_has_op,
    )


def field_name(index: int) -> str:
    """The name `decode_dms_csv_widths` gives a line's field `index` (0: the first column)."""
    return f"c{index}"


def decode_dms_csv_widths(
    widths: Sequence[int],
    width: str,
    carry: Sequence[str] = (),
    *,
    delimiter: str = ",",
    null_value: str = "",
    full_load_has_op: bool = False,
) -> Callable[[DataFrame], DataFrame]:
    """Lines of tables of several widths -> `_op`, `c0` .. `c<W-1>` (W the widest of
    `widths`; NULL past the line's own width), the bookkeeping of `decode_dms_csv`, and
    the columns `carry`. Column `width` holds the columns a line's table has (one of
    `widths`): the line is parsed, and its field count checked, as that table's decoder
    would. One parse a width, evaluated only for the lines of that width."""
    layouts = {w: [field_name(i) for i in range(w)] for w in sorted(set(widths))}
    return _decoder(
        layouts,
        width,
        carry,
        delimiter=delimiter,
        null_value=null_value,
        full_load_has_op=full_load_has_op,
    )


def _decoder(
    layouts: dict[int, list[str]],
    width: str | None,
    carry: Sequence[str] = (),
    *,
    delimiter: str,
    null_value: str,
    full_load_has_op: bool,
) -> Callable[[DataFrame], DataFrame]:
    """The decoder of lines whose table has one of `layouts` (width -> column names),
    chosen by column `width` (None: one layout); its columns are the widest layout's."""
    options = {
        "sep": delimiter,
        "quote": '"',
        "escape": '"',  # DMS doubles quotes inside quoted fields (RFC 4180)
        "nullValue": null_value,
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": _CORRUPT,
    }
    names = layouts[max(layouts)]

    def stages() -> list[list[Column]]:
        line = F.col("value")
        if not full_load_has_op:
            load = F.concat(F.lit(OP_LOAD + delimiter), line)
            line = F.when(is_full_load(F.col(FILE)), load).otherwise(line)
        # One parse a width, each its own column: a parser holds buffers of megabytes, and
        # the parse of a width is evaluated only for the lines of that width.
        parses = [
            (_parse(line, columns, options) if width is None
             else F.when(F.col(width) == w, _parse(line, columns, options))).alias(f"r{w}")
            for w, columns in layouts.items()
        ]  # fmt: skip
        parsed = [
            *[F.col(c) for c in carry],
            *([F.col(width)] if width is not None else []),
            F.col("value").alias(RAW),
            F.col(FILE).alias(SOURCE_FILE),
            file_position().alias(POS),
            *parses,
        ]

        def field(name: str) -> Column:
            return _by_width(layouts, width, lambda w: _field_of(layouts[w], w, name))

        decoded = [
            *[F.col(c) for c in carry],
            *[field(name).alias(name) for name in [OP, *names]],
            F.lit(None).cast("timestamp").alias(COMMIT_TS),
            F.col(POS),
            F.col(RAW),
            F.col(SOURCE_FILE),
            _error(field(_CORRUPT), _by_width(layouts, width, lambda w: F.lit(w + 1))).alias(ERROR),
        ]
        return [parsed, decoded]

    return selects_built_once(stages)


def _by_width(
    layouts: dict[int, list[str]], width: str | None, value: Callable[[int], Column]
) -> Column:
    """`value(w)` of the line's width `w` (column `width`): a CASE on the width, none for
    one layout."""
    if width is None:
        return value(next(iter(layouts)))
    chosen: Column | None = None
    for w in layouts:
        is_w = F.col(width) == w
        chosen = F.when(is_w, value(w)) if chosen is None else chosen.when(is_w, value(w))
    assert chosen is not None, "a decoder of no width"
    return chosen


def _field_of(columns: list[str], w: int, name: str) -> Column:
    """Field `name` as the parse of width `w` (its `columns`) gives it: NULL past them."""
    if name in (OP, _CORRUPT) or name in columns:
        return F.col(f"r{w}.`{name}`")
    return F.lit(None).cast("string")


def _parse(line: Column, columns: list[str], options: dict[str, str]) -> Column:
    """The line parsed as Op and `columns`, with its corrupt record column."""
    schema = ", ".join(f"`{name}` string" for name in [OP, *columns, _CORRUPT])
    return F.from_csv(line, schema, options)


def _error(corrupt: Column, fields: Column) -> Column:
    """Why a parsed line (`_raw`; its corrupt record column, its table's field count)
    cannot be decoded; NULL when it can."""
    raw = F.col(RAW)
    # Quotes come in pairs (a quote inside a field is doubled): an odd count is a quoted
    # field the line does not close, which Spark would read as ending at the line's end.
    # Counted only in lines that hold a quote: counting copies the line, 0.55 s per
    # million lines against 0.05 s for the search (docs/benchmarks.md).
    quotes = F.length(raw) - F.length(F.translate(raw, '"', ""))
    expected = F.concat(
        F.lit("malformed CSV record: expected "),
        fields.cast("string"),
        F.lit(" fields (Op + columns)"),
    )
    return (
        F.when(F.length(F.trim(raw)) == 0, F.lit("empty record"))
        .when(raw.contains('"') & (quotes % 2 == 1), F.lit(_UNCLOSED))
        .when(corrupt.isNotNull(), expected)
    )

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
_FIELDS = "__fields"  # the fields a line of its table has: Op + columns
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
    widest = max(widths)
    layouts = {w: [field_name(i) for i in range(w)] for w in sorted(set(widths))}
    padded = [field_name(i) for i in range(widest)]
    return _decoder(
        layouts,
        width,
        carry,
        delimiter=delimiter,
        null_value=null_value,
        full_load_has_op=full_load_has_op,
        padded=padded,
    )


def _decoder(
    layouts: dict[int, list[str]],
    width: str | None,
    carry: Sequence[str] = (),
    *,
    delimiter: str,
    null_value: str,
    full_load_has_op: bool,
    padded: list[str] | None = None,
) -> Callable[[DataFrame], DataFrame]:
    """The decoder of lines whose table has one of `layouts` (width -> column names),
    chosen by column `width` (None: one layout)."""
    options = {
        "sep": delimiter,
        "quote": '"',
        "escape": '"',  # DMS doubles quotes inside quoted fields (RFC 4180)
        "nullValue": null_value,
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": _CORRUPT,
    }
    names = padded if padded is not None else next(iter(layouts.values()))

    def stages() -> list[list[Column]]:
        line = F.col("value")
        if not full_load_has_op:
            load = F.concat(F.lit(OP_LOAD + delimiter), line)
            line = F.when(is_full_load(F.col(FILE)), load).otherwise(line)
        parsed_line: Column | None = None
        for w, columns in layouts.items():
            branch = _parse(line, columns, names, options)
            if width is None:
                parsed_line = branch
            else:
                is_w = F.col(width) == w
                parsed_line = (
                    F.when(is_w, branch) if parsed_line is None else parsed_line.when(is_w, branch)
                )
        assert parsed_line is not None, "a decoder of no width"
        parsed = [
            *[F.col(c) for c in carry],
            F.col("value").alias(RAW),
            F.col(FILE).alias(SOURCE_FILE),
            file_position().alias(POS),
            parsed_line.alias("r"),
        ]
        decoded = [
            *[F.col(c) for c in carry],
            *[F.col(f"r.`{name}`").alias(name) for name in [OP, *names]],
            F.lit(None).cast("timestamp").alias(COMMIT_TS),
            F.col(POS),
            F.col(RAW),
            F.col(SOURCE_FILE),
            _error().alias(ERROR),
        ]
        return [parsed, decoded]

    return selects_built_once(stages)


def _parse(line: Column, columns: list[str], names: list[str], options: dict[str, str]) -> Column:
    """The line parsed as `columns`: a struct of `names` (NULL past `columns`), its
    corrupt record column and its field count."""
    fields = [OP, *columns]
    schema = ", ".join(f"`{name}` string" for name in [*fields, _CORRUPT])
    r = F.from_csv(line, schema, options)
    values = [r[c] if c in columns else F.lit(None).cast("string") for c in names]
    return F.struct(
        r[OP].alias(OP),
        *[v.alias(c) for v, c in zip(values, names, strict=True)],
        r[_CORRUPT].alias(_CORRUPT),
        F.lit(len(fields)).alias(_FIELDS),
    )


def _error() -> Column:
    """Why a parsed line (`_raw`, `r`) cannot be decoded; NULL when it can."""
    raw = F.col(RAW)
    # Quotes come in pairs (a quote inside a field is doubled): an odd count is a quoted
    # field the line does not close, which Spark would read as ending at the line's end.
    # Counted only in lines that hold a quote: counting copies the line, 0.55 s per
    # million lines against 0.05 s for the search (docs/benchmarks.md).
    quotes = F.length(raw) - F.length(F.translate(raw, '"', ""))
    expected = F.concat(
        F.lit("malformed CSV record: expected "),
        F.col(f"r.{_FIELDS}").cast("string"),
        F.lit(" fields (Op + columns)"),
    )
    return (
        F.when(F.length(F.trim(raw)) == 0, F.lit("empty record"))
        .when(raw.contains('"') & (quotes % 2 == 1), F.lit(_UNCLOSED))
        .when(F.col(f"r.{_CORRUPT}").isNotNull(), expected)
    )

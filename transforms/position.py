"""Transport position of a record in landing files: (phase, file, block, row)."""

from pyspark.sql import Column
from pyspark.sql import functions as F

from transforms.names import BLOCK, FILE, SEP


def file_name(path: Column) -> Column:
    """The last path segment: DMS names files by time, so names order the changes."""
    return F.element_at(F.split(path, "/"), -1)


def is_full_load(path: Column) -> Column:
    """DMS names full-load files LOAD00000001.csv; CDC files by their timestamp."""
    return file_name(path).startswith("LOAD")


def file_position() -> Column:
    """A string that sorts like (full load before CDC, file name, offset, row).

    The row number comes from monotonically_increasing_id, which grows with the
    row's place inside one input split; one split of one file is always read by
    one task, so rows of the same (file, block) compare in file order.
    """
    phase = F.when(is_full_load(F.col(FILE)), F.lit("0")).otherwise(F.lit("1"))
    return F.concat_ws(
        SEP,
        phase,
        file_name(F.col(FILE)),
        F.lpad(F.col(BLOCK).cast("string"), 20, "0"),
        F.lpad(F.monotonically_increasing_id().cast("string"), 20, "0"),
    )


def file_start_position(path: Column) -> Column:
    """A position before every row of the file at `path` and after every row of the files
    before it (a prefix of their `file_position`s); NULL without a path."""
    phase = F.when(is_full_load(path), F.lit("0")).otherwise(F.lit("1"))
    return F.when(path.isNotNull(), F.concat_ws(SEP, phase, file_name(path)))

"""The seed's way of loading a batch into the warehouse, for the merge benchmark: collect
the batch to the driver, INSERT it row by row into a staging table, then delete and insert
in one transaction. And the check that both sides end with the same rows."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pyspark.sql import DataFrame

from sinks.redshift import ConnectionSettings
from sinks.redshift.dialect import Column, PostgresDialect
from sinks.redshift.statements import quote
from transforms.names import OP
from transforms.ordering import latest_per_key

SCHEMA = "bench"
ENGINE_TABLE = "activity_engine"
BASELINE_TABLE = "activity_baseline"
STAGE_TABLE = "activity_baseline_stage"
KEY = "ticket_id"
Change = tuple[object, ...]


def create_baseline(settings: ConnectionSettings, columns: Sequence[Column]) -> None:
    ddl = PostgresDialect().create_target(SCHEMA, BASELINE_TABLE, columns, [KEY])
    with settings.connect() as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(SCHEMA)}")
        conn.execute(ddl.sql)


def copy_baseline(settings: ConnectionSettings, names: Sequence[str], rows: list[Change]) -> None:
    """The baseline's preload (not timed): COPY, like a full-load job."""
    target = f"{quote(SCHEMA)}.{quote(BASELINE_TABLE)}"
    cols = ", ".join(quote(n) for n in names)
    with settings.connect() as conn, conn.cursor() as cur:
        with cur.copy(f"COPY {target} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row[: len(names)])
        conn.commit()


def baseline_apply(
    settings: ConnectionSettings, changes: DataFrame, columns: Sequence[Column]
) -> dict[str, float]:
    """One batch the seed's way; its timings and how many rows it staged."""
    started = time.perf_counter()
    names = [c.name for c in columns]
    latest = changes.transform(latest_per_key([KEY])).select(*names, OP)
    rows = latest.collect()
    collected = time.perf_counter()

    t = f"{quote(SCHEMA)}.{quote(BASELINE_TABLE)}"
    s = f"{quote(SCHEMA)}.{quote(STAGE_TABLE)}"
    cols = ", ".join(quote(n) for n in names)
    dialect = PostgresDialect()
    body = ", ".join(f"{quote(c.name)} {dialect.sql_type(c.spark_type)}" for c in columns)
    insert = f"INSERT INTO {s} ({cols}, _op) VALUES ({', '.join(['%s'] * (len(names) + 1))})"
    with settings.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {s}")
        cur.execute(f"CREATE TABLE {s} ({body}, _op CHAR(1) NOT NULL)")
        conn.commit()
        for row in rows:
            cur.execute(insert, tuple(row))
        conn.commit()
        staged = time.perf_counter()
        cur.execute(f"DELETE FROM {t} USING {s} WHERE {t}.{quote(KEY)} = {s}.{quote(KEY)}")
        cur.execute(f"INSERT INTO {t} ({cols}) SELECT {cols} FROM {s} WHERE _op <> 'D'")
        conn.commit()
        cur.execute(f"DROP TABLE {s}")
        conn.commit()
    done = time.perf_counter()
    return {
        "rows": float(len(rows)),
        "collect_s": collected - started,
        "insert_s": staged - collected,
        "merge_s": done - staged,
        "total_s": done - started,
    }


# ------------------------------------------------------------------ checks


def fingerprint(settings: ConnectionSettings, table: str) -> tuple[int, str]:
    with settings.connect() as conn:
        row = conn.execute(
            f"SELECT COUNT(*), COALESCE(md5(string_agg(t::text, '|' ORDER BY t.{quote(KEY)})), '') "
            f"FROM {quote(SCHEMA)}.{quote(table)} t"
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def check_same(settings: ConnectionSettings, expected: int, when: str) -> int:
    engine, baseline = (fingerprint(settings, t) for t in (ENGINE_TABLE, BASELINE_TABLE))
    if engine[0] != baseline[0] or engine[0] != expected:
        raise RuntimeError(
            f"{when}: row counts differ: engine {engine[0]}, baseline {baseline[0]}, "
            f"expected {expected}"
        )
    if engine[1] != baseline[1]:
        raise RuntimeError(f"{when}: the tables hold different rows (checksums differ)")
    return engine[0]

"""The warehouse's retention statements are Redshift SQL, and carry their instants as
parameters (never in the text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlglot import exp

from sinks.redshift.dialect import RedshiftDialect
from sinks.redshift.retention import Sweeps, Times, history_sweep
from sinks.redshift.statements import Statement, quote
from sinks.retention import Expiry
from tests.unit.test_redshift_sql import STAGE, redshift_parse

NOW = datetime(2026, 1, 10, tzinfo=UTC)
TIMES = Times(
    now=NOW, before=NOW - timedelta(days=7), sweep_all=True, history_before=NOW - timedelta(30)
)


def _statements() -> list[Statement]:
    merge = RedshiftDialect().merge("s", "t", STAGE, ["id", "name"], ["id"], times=TIMES)
    return [*merge, *history_sweep('"s"."t"', '"s"."t__cdc_events"', ["id"], quote, TIMES)]


@pytest.mark.parametrize("statement", _statements(), ids=lambda s: s.sql[:50])
def test_retention_statements_parse_as_redshift_sql(statement: Statement) -> None:
    assert not isinstance(redshift_parse(statement), exp.Command)


def test_instants_are_parameters_in_utc() -> None:
    texts = " ".join(s.sql for s in _statements())
    params = {k: v for s in _statements() for k, v in s.params.items()}
    assert "2026" not in texts
    assert params["deleted_at"] == "2026-01-10 00:00:00.000000"
    assert params["expired_before"] == "2026-01-03 00:00:00.000000"
    assert params["history_before"] == "2025-12-11 00:00:00.000000"


def test_the_whole_key_table_is_swept_at_most_hourly() -> None:
    now = [NOW]
    sweeps = Sweeps(Expiry(clock=lambda: now[0]))
    assert sweeps.times().sweep_all
    now[0] += timedelta(minutes=59)
    assert not sweeps.times().sweep_all
    now[0] += timedelta(minutes=1)
    assert sweeps.times().sweep_all


def test_nothing_is_swept_when_everything_is_kept() -> None:
    sweeps = Sweeps(Expiry(tombstones=None, history=None, clock=lambda: NOW))
    times = sweeps.times()
    assert not times.sweep_all and times.or_expired("h") == ""

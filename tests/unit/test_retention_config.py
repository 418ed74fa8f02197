"""`target.retention`: durations in the words of `trigger_interval`, defaults as documented."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from config import LakeTarget, RedshiftTarget
from config.retention import Retention, parse_duration


def test_default_keeps_tombstones_seven_days_and_history_forever() -> None:
    retention = LakeTarget(path="/t").retention
    assert retention.tombstones_after == timedelta(days=7)
    assert retention.history_after is None


def test_durations_take_the_trigger_interval_words() -> None:
    retention = Retention(tombstones="36 hours", history_events="90d")
    assert retention.tombstones_after == timedelta(hours=36)
    assert retention.history_after == timedelta(days=90)
    assert parse_duration("2 days") == 172800


def test_null_keeps_tombstones_forever() -> None:
    assert Retention(tombstones=None).tombstones_after is None


@pytest.mark.parametrize("bad", ["7 fortnights", "0 days", "soon"])
def test_bad_duration_is_refused_naming_the_key(bad: str) -> None:
    with pytest.raises(ValidationError, match="tombstones"):
        RedshiftTarget.model_validate(
            {
                "database": "d",
                "host": "h",
                "user": "u",
                "dialect": "postgres",
                "retention": {"tombstones": bad},
            }
        )

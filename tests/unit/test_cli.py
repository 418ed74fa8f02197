"""The entry points' shared `--config` / `--set` handling (jobs/cli.py): a bad config is
reported as `error: ...` naming the key, with exit 2, before anything starts, whichever
entry point reads it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from jobs import replay, status, stream_cdc, verify

REPO = Path(__file__).resolve().parents[2]
MAINS: dict[str, Callable[[list[str]], int]] = {
    "replay": replay.main,
    "status": status.main,
    "stream_cdc": stream_cdc.main,
    "verify": verify.main,
}


@pytest.mark.parametrize("name", sorted(MAINS))
def test_a_bad_override_is_an_error_naming_the_key_and_exit_2(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = str(REPO / "conf" / "demo.yaml")

    code = MAINS[name](["--config", demo, "--set", "source.format=dms-xml"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "source.format: Input should be" in err, err


@pytest.mark.parametrize("name", ["replay", "verify"])
def test_config_is_required_where_there_is_no_demo(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        MAINS[name]([])

    assert exit_.value.code == 2
    assert "--config" in capsys.readouterr().err

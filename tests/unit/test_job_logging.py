"""The job's log shows the job: its own lines at INFO, py4j's plumbing never."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from jobs.stream_cdc import configure_logging

NAMES = ("", "stream_cdc", "py4j", "py4j.clientserver", "botocore")


@pytest.fixture
def glue_like_root() -> Iterator[io.StringIO]:
    """A root logger already configured at INFO, as a launcher like Glue leaves it."""
    loggers = {name: logging.getLogger(name) for name in NAMES}
    saved = {name: (lg.level, list(lg.handlers)) for name, lg in loggers.items()}
    text = io.StringIO()
    root = loggers[""]
    root.handlers = [logging.StreamHandler(text)]
    root.setLevel(logging.INFO)
    for name in NAMES[1:]:
        loggers[name].setLevel(logging.NOTSET)
    yield text
    for existing in list(loggers["py4j.clientserver"].filters):
        loggers["py4j.clientserver"].removeFilter(existing)
    for name, (level, handlers) in saved.items():
        loggers[name].setLevel(level)
        loggers[name].handlers = handlers


def test_py4j_callback_lines_are_hidden_even_when_the_launcher_logs_at_info(
    glue_like_root: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STREAM_CDC_LOG_LEVEL", raising=False)
    configure_logging()

    callbacks = logging.getLogger("py4j.clientserver")
    callbacks.info("Received command c on object id p0")
    logging.getLogger("stream_cdc").info("batch line")
    callbacks.warning("callback server went away")
    try:
        raise NotADirectoryError("a-file/q")
    except OSError:
        callbacks.exception("There was an exception while executing the Python Proxy")

    lines = glue_like_root.getvalue().splitlines()
    assert lines == ["batch line", "callback server went away"]


def test_the_job_level_can_be_raised_to_debug_for_a_full_trace(
    glue_like_root: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAM_CDC_LOG_LEVEL", "debug")
    configure_logging()

    logging.getLogger("stream_cdc").debug("trace")
    logging.getLogger("py4j.clientserver").info("Received command c on object id p0")
    logging.getLogger("py4j.clientserver").error("There was an exception while executing it")

    assert glue_like_root.getvalue().splitlines() == [
        "trace",
        "There was an exception while executing it",
    ]

"""Spark SQL settings for the statements of a block: the transaction ids of Delta's
commits, or a plan choice for one statement.

A session's settings are shared by every thread that uses it, and the tables of a batch
are applied side by side in threads (sinks/target.py `in_parallel`), each setting the
same values (the writer and the batch id are the batch's). Set and restored per block, a
table that finished first would put the old values back while another table's MERGE still
ran under them: the settings are held per session instead, counted, and restored when the
last block that holds them ends. A block that wants another value for a setting held with
a different one waits until it is free.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from pyspark.sql import SparkSession

__all__ = ["session_settings"]

WAIT_S = 3600.0  # longest wait for a setting another block holds with another value


@dataclass
class _Held:
    value: str
    holders: int
    before: str | None  # the session's value when the first holder set it


_changed = threading.Condition()
_held: dict[tuple[int, str], _Held] = {}  # by (the JVM session's identity, key)


@contextmanager
def session_settings(
    spark: SparkSession, settings: Mapping[str, str], wait_s: float = WAIT_S
) -> Iterator[None]:
    """Hold SQL settings of the session for the statements of the block, then put the
    previous values back once no other block holds them (module docstring)."""
    session = int(spark._jsparkSession.hashCode())
    conf = spark.conf
    deadline = time.monotonic() + wait_s
    with _changed:
        while clash := _clashing(session, settings):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"session settings {clash} held with other values for {wait_s:.0f} s"
                )
            _changed.wait(left)
        for key, value in settings.items():
            held = _held.get((session, key))
            if held is None:
                _held[(session, key)] = _Held(value, 1, conf.get(key, None))
                conf.set(key, value)
            else:
                held.holders += 1
    try:
        yield
    finally:
        with _changed:
            for key in settings:
                held = _held[(session, key)]
                held.holders -= 1
                if held.holders == 0:
                    del _held[(session, key)]
                    if held.before is None:
                        conf.unset(key)
                    else:
                        conf.set(key, held.before)
            _changed.notify_all()


def _clashing(session: int, settings: Mapping[str, str]) -> list[str]:
    """Keys of `settings` that another block holds with another value."""
    return [
        key
        for key, value in settings.items()
        if (held := _held.get((session, key))) is not None and held.value != value
    ]

"""BatchLog waits for Spark's last event of each query before the driver lets it go."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from runtime.listener import BatchLog


def test_wait_terminated_returns_once_every_query_has_ended() -> None:
    listener = BatchLog()
    later = threading.Timer(0.3, listener.onQueryTerminated, [SimpleNamespace(id="q-2")])
    listener.onQueryTerminated(SimpleNamespace(id="q-1"))
    later.start()
    started = time.monotonic()

    assert listener.wait_terminated(["q-1", "q-2"], wait_s=10)
    assert 0.2 < time.monotonic() - started < 5


def test_wait_terminated_gives_up_after_its_bound() -> None:
    listener = BatchLog()
    listener.onQueryTerminated(SimpleNamespace(id="q-1"))
    started = time.monotonic()

    assert not listener.wait_terminated(["q-1", "never"], wait_s=0.3)
    assert time.monotonic() - started < 3
    assert listener.wait_terminated([], wait_s=0)

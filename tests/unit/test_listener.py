"""BatchLog waits for Spark's last event of each query before the driver lets it go."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from runtime.batch import SourceBatch
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


def _progress(query: str, batch_id: int) -> SimpleNamespace:
    return SimpleNamespace(
        progress=SimpleNamespace(
            name=query, batchId=batch_id, sources=[], durationMs={"triggerExecution": 40},
            numInputRows=5, inputRowsPerSecond=1.0, processedRowsPerSecond=2.0,
        )
    )  # fmt: skip


def test_flush_writes_the_last_batch_with_its_progress_once_that_arrives() -> None:
    """The last batch's progress event comes after the batch, on Spark's listener thread:
    flush waits for it (and no longer: it polled every 0.1 s), then writes the pair."""
    written: list[tuple[str, int, object]] = []
    listener = BatchLog(export=lambda q, b, source: written.append((q, b.batch_id, source)))
    listener.sink_done("q", SourceBatch(7))
    threading.Timer(0.3, listener.onQueryProgress, [_progress("q", 7)]).start()
    started = time.monotonic()

    listener.flush(wait_s=10)

    assert 0.2 < time.monotonic() - started < 5
    assert [(q, b) for q, b, _ in written] == [("q", 7)]
    assert isinstance(written[0][2], dict) and written[0][2]["input_rows"] == 5


def test_flush_writes_a_batch_whose_progress_never_comes_without_it() -> None:
    written: list[tuple[str, int, object]] = []
    listener = BatchLog(export=lambda q, b, source: written.append((q, b.batch_id, source)))
    listener.sink_done("q", SourceBatch(8))
    started = time.monotonic()

    listener.flush(wait_s=0.3)

    assert time.monotonic() - started < 3
    assert written == [("q", 8, None)]

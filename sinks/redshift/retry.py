"""Retry a batch while the warehouse is unreachable; fail at once on anything else.

Only a lost or refused connection is worth retrying: the batch is idempotent, so running
it again once the warehouse is back is safe. Drivers raise many subclasses for it
(psycopg: `AdminShutdown` while the server stops, `CannotConnectNow` while it starts),
so the test is on the class hierarchy, never on one class name. A failure on an executor
reaches the driver as text inside Spark's exception: the driver class named there is
resolved and judged the same way.

AWS calls (the Data API, S3) fail the same way in other words; botocore's standard retry
rules judge them (aws.is_transient: throttling, 5xx, timeouts, connections that never got
an answer). The Data API adds its own "too many at once" errors, which botocore does not
model as retryable. A ValidationException or a FAILED statement stays a failure.
"""

from __future__ import annotations

import importlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from aws import error_code, is_transient

__all__ = ["retrying", "unreachable"]

log = logging.getLogger("stream_cdc")
_T = TypeVar("_T")

# Exception classes (by name, anywhere in an exception's MRO) that mean "no connection".
_CONNECTION_BASES = frozenset(
    {"OperationalError", "InterfaceError", "ConnectionError", "ConnectionRefusedError"}
)
# The Redshift Data API's limits on concurrent work: retry once others finish.
_DATA_API_BUSY = frozenset(
    {
        "ActiveStatementsExceededException",
        "ActiveSessionsExceededException",
        "ActiveWaitingRequestsExceededException",
    }
)
# Driver classes named in text: psycopg.errors.AdminShutdown, redshift_connector.error.X
_QUALIFIED = re.compile(r"\b((?:psycopg|redshift_connector)(?:\.\w+)*)\.([A-Z]\w+)\b")
_FIRST_DELAY_S = 1.0
_MAX_DELAY_S = 15.0


def unreachable(error: BaseException) -> bool:
    """True when `error` (or what caused it) is a lost or refused connection."""
    for seen in _chain(error):
        if _is_connection_class(type(seen)) or is_transient(seen):
            return True
        if error_code(seen) in _DATA_API_BUSY:
            return True
    return any(
        _names_connection_class(m.group(1), m.group(2)) for m in _QUALIFIED.finditer(str(error))
    )


def retrying(
    attempt: Callable[[], _T],
    *,
    retry_s: float,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> _T:
    """`attempt()`, tried again with a growing delay while the warehouse is unreachable,
    for at most `retry_s`; any other error, or the last one, is raised."""
    deadline = time.monotonic() + retry_s
    delay = _FIRST_DELAY_S
    tries = 1
    while True:
        try:
            return attempt()
        except Exception as error:
            if not unreachable(error) or time.monotonic() + delay > deadline:
                raise
            log.warning(
                "warehouse unreachable (%s): %s retried in %.0f s (attempt %d)",
                type(error).__name__,
                what,
                delay,
                tries,
            )
            sleep(delay)
            delay = min(delay * 2, _MAX_DELAY_S)
            tries += 1


def _is_connection_class(cls: type) -> bool:
    return any(base.__name__ in _CONNECTION_BASES for base in cls.__mro__)


def _names_connection_class(module: str, name: str) -> bool:
    try:
        cls = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return False
    return isinstance(cls, type) and _is_connection_class(cls)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__

"""Tell a lost or refused warehouse connection from any other failure.

Only the former is worth retrying: the batch is idempotent, so running it again once
the warehouse is back is safe. Drivers raise many subclasses for it (psycopg:
`AdminShutdown` while the server stops, `CannotConnectNow` while it starts), so the
test is on the class hierarchy, never on one class name. A failure on an executor
reaches the driver as text inside Spark's exception: the driver class named there is
resolved and judged the same way.

AWS calls (the Data API, S3) fail the same way in other words: botocore's connection
errors (`EndpointConnectionError`, `ConnectTimeoutError`, ... all subclass its own
`ConnectionError`), read timeouts and dropped connections, and error responses that
mean "too many requests, try later" (throttling, too many active statements). A
ValidationException or a FAILED statement is not among them: those stay failures.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator

__all__ = ["unreachable"]

# Exception classes (by name, anywhere in an exception's MRO) that mean "no connection".
_CONNECTION_BASES = frozenset(
    {"OperationalError", "InterfaceError", "ConnectionError", "ConnectionRefusedError"}
)
# botocore classes (by name, in the MRO) of a request that never got an answer.
_AWS_TRANSIENT_BASES = frozenset({"HTTPClientError", "ReadTimeoutError"})
# Error codes of AWS responses that mean "retry later".
_AWS_RETRY_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerException",
        "ActiveStatementsExceededException",
        "ActiveSessionsExceededException",
        "ActiveWaitingRequestsExceededException",
    }
)
# Driver classes named in text: psycopg.errors.AdminShutdown, redshift_connector.error.X
_QUALIFIED = re.compile(r"\b((?:psycopg|redshift_connector)(?:\.\w+)*)\.([A-Z]\w+)\b")


def unreachable(error: BaseException) -> bool:
    """True when `error` (or what caused it) is a lost or refused connection."""
    for seen in _chain(error):
        if _is_connection_class(type(seen)) or _aws_transient(seen):
            return True
    return any(
        _names_connection_class(m.group(1), m.group(2)) for m in _QUALIFIED.finditer(str(error))
    )


def _aws_transient(error: BaseException) -> bool:
    if any(base.__name__ in _AWS_TRANSIENT_BASES for base in type(error).__mro__):
        return True
    response = getattr(error, "response", None)  # botocore's ClientError
    if not isinstance(response, dict):
        return False
    code = response.get("Error", {}).get("Code")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in _AWS_RETRY_CODES or status in (429, 503)


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

"""What an AWS error says, in one line, and whether trying again later may help.

Every AWS call of the project fails with botocore's `ClientError` (the service answered
with an error) or `BotoCoreError` (no answer: no credentials, no region, endpoint
unreachable). `describe` turns either into `Code: Message`, the form every error
message of the project shows; `is_transient` asks botocore's standard retry rules.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.retries.standard import (  # type: ignore[attr-defined]
    OrRetryChecker,
    RetryContext,
    ThrottledRetryableChecker,
    ThrottlingStatusCodeChecker,
    TransientRetryableChecker,
)

__all__ = ["AWS_ERRORS", "AwsError", "describe", "error_code", "is_transient"]

AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)


class AwsError(RuntimeError):
    """An AWS call failed; the message names the call and carries AWS's reason."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def error_code(exc: BaseException) -> str | None:
    """The service's error code (`EntityNotFoundException`, ...), None without one."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return None if code is None else str(code)


def describe(exc: BaseException) -> str:
    """`Code: Message` of a service error, else the client's own error in one line."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        message = error.get("Message") or str(exc)
        return f"{error.get('Code', 'error')}: {message}"
    if isinstance(exc, BotoCoreError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class _Status:
    """What botocore's retry rules read of an HTTP response: its status code."""

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


def is_transient(exc: BaseException) -> bool:
    """True for what botocore's standard retry mode would retry: throttling, 5xx,
    timeouts and connections that never got an answer.

    The client has already retried such an error `MAX_ATTEMPTS` times; a caller whose
    work is idempotent (a batch) may wait longer and try again.
    """
    response: Any = getattr(exc, "response", None)
    status = None
    if isinstance(response, dict):
        code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        status = _Status(int(code)) if code is not None else None
    context = RetryContext(
        attempt_number=1,
        parsed_response=response if isinstance(response, dict) else None,
        http_response=status,
        caught_exception=exc if isinstance(exc, Exception) else None,
    )
    return bool(_STANDARD.is_retryable(context))


# The checks of botocore's standard mode that judge an error without the operation's
# model (which an exception does not carry): transient, throttled, HTTP 429.
_STANDARD = OrRetryChecker(
    [TransientRetryableChecker(), ThrottledRetryableChecker(), ThrottlingStatusCodeChecker()]
)

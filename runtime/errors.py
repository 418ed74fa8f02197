"""One line that says why the job stopped, from whatever Python or the JVM raised.

An operator reads the last line of the log first: it names the failure in one line, and
the full trace goes to the DEBUG log (`STREAM_CDC_LOG_LEVEL=DEBUG`). Messages of Spark
and Java exceptions name paths, tables and columns, never row values.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_REASON_CHARS", "reason"]

MAX_REASON_CHARS = 500


def reason(exception: BaseException) -> str:
    """`Type: first line of the message`, plus the root cause when the JVM has one that
    says something else; one line, at most MAX_REASON_CHARS characters."""
    raised_in_python = _python_exception_line(str(exception))
    java = getattr(exception, "java_exception", None)  # py4j's Py4JJavaError
    if raised_in_python:  # a Python error that crossed the JVM (foreachBatch) and back
        text = raised_in_python
    elif java is not None:
        text = _java_reason(java) or _first_line(str(exception))
    else:
        message = _first_line(str(exception))
        name = type(exception).__name__
        text = f"{name}: {message}" if message else name
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def _java_reason(throwable: Any) -> str | None:
    """The throwable's `toString()` and its deepest cause's, when the JVM still answers."""
    try:
        top = _first_line(str(throwable.toString()))
        root = throwable
        for _ in range(20):  # bounded: cause chains can loop
            cause = root.getCause()
            if cause is None:
                break
            root = cause
        deepest = _first_line(str(root.toString())) if root is not throwable else ""
    except Exception:  # the JVM may be gone: the Python text will do
        return None
    if deepest and deepest not in top:
        return f"{top} (cause: {deepest})"
    return top


def _python_exception_line(text: str) -> str:
    """The exception line of the last Python traceback in `text` (how py4j reports an
    error of Python code the JVM called, foreachBatch's); "" when there is none.

    The line after the traceback's frames, which are indented. When that exception is
    itself py4j's `Py4JJavaError` ("An error occurred while calling o42.json."), the
    Java exception on the next line (": java.io.IOException: ...") says more.
    """
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if "Traceback (most recent call last)" in line]
    if not starts:
        return ""
    rest = lines[starts[-1] + 1 :]
    for i, line in enumerate(rest):
        if line and not line[0].isspace():
            following = rest[i + 1] if i + 1 < len(rest) else ""
            if "An error occurred while calling" in line and following.startswith(": "):
                return following.removeprefix(": ").strip()
            return line.strip()
    return ""


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip() and not line.startswith("An error occurred while calling"):
            return line.strip().removeprefix(": ")
    return ""

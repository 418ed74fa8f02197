"""The one line a fatal error leaves at the end of the log."""

from __future__ import annotations

from runtime.errors import MAX_REASON_CHARS, reason

PROXY = (
    "[STREAM_FAILED] Query [id = 1, runId = 2] terminated with exception: An exception was "
    "raised by the Python Proxy. Return Message: Traceback (most recent call last):\n"
    '  File "clientserver.py", line 617, in _call_proxy\n'
    "    return_value = getattr(self.pool[obj_id], method)(*params)\n"
    "FileExistsError: [Errno 17] File exists: 'q'\n"
    "\n"
    "During handling of the above exception, another exception occurred:\n"
    "\n"
    "Traceback (most recent call last):\n"
    '  File "storage.py", line 40, in write\n'
    "    os.makedirs(path)\n"
    "NotADirectoryError: [Errno 20] Not a directory: 'a-file/q'\n"
    "\tat py4j.Protocol.getReturnValue(Protocol.java:476)\n"
)


class _JavaThrowable:
    def __init__(self, text: str, cause: _JavaThrowable | None = None) -> None:
        self.text, self.cause = text, cause

    def toString(self) -> str:  # noqa: N802 (the JVM's name)
        return self.text

    def getCause(self) -> _JavaThrowable | None:  # noqa: N802 (the JVM's name)
        return self.cause


class _Py4JJavaError(Exception):
    def __init__(self, java: _JavaThrowable) -> None:
        super().__init__("An error occurred while calling o42.save.\n: " + java.toString())
        self.java_exception = java


def test_a_python_error_raised_through_the_jvm_is_its_exception_line() -> None:
    assert reason(Exception(PROXY)) == "NotADirectoryError: [Errno 20] Not a directory: 'a-file/q'"


def test_a_jvm_error_under_a_python_one_through_the_jvm_is_the_java_exception() -> None:
    text = (
        "An exception was raised by the Python Proxy. Return Message: Traceback (most "
        "recent call last):\n"
        '  File "batch.py", line 9, in __call__\n'
        "    rejected.write.json(path)\n"
        "py4j.protocol.Py4JJavaError: An error occurred while calling o1310.json.\n"
        ": org.apache.hadoop.fs.ParentNotDirectoryException: Parent path is not a "
        "directory: file:/data/a-file\n"
        "\tat org.apache.hadoop.fs.RawLocalFileSystem.mkdirs(RawLocalFileSystem.java:672)\n"
        "+- Project [value#522, input_file_name() AS _file#524]\n"
    )

    assert reason(Exception(text)) == (
        "org.apache.hadoop.fs.ParentNotDirectoryException: "
        "Parent path is not a directory: file:/data/a-file"
    )


def test_a_jvm_error_names_itself_and_its_root_cause() -> None:
    root = _JavaThrowable("java.io.IOException: Mkdirs failed to create file:/x/lake")
    top = _JavaThrowable("org.apache.spark.SparkException: Job aborted.\n\tat x.y(Z.java:1)", root)

    assert reason(_Py4JJavaError(top)) == (
        "org.apache.spark.SparkException: Job aborted. "
        "(cause: java.io.IOException: Mkdirs failed to create file:/x/lake)"
    )


def test_a_python_error_is_its_type_and_first_line_and_never_longer_than_the_bound() -> None:
    assert reason(OSError("disk full\nmore")) == "OSError: disk full"
    assert reason(KeyError()) == "KeyError"
    long = reason(ValueError("x" * 2000))
    assert len(long) == MAX_REASON_CHARS and long.endswith("…")

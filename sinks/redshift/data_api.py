"""Run the warehouse engine's statements through the Amazon Redshift Data API.

No driver connection and no network path to the cluster: each call is an HTTPS
request. A transaction is ONE `batch_execute_statement` (its SQL statements run in
order as a single transaction, rolled back together if one fails); a query is one
`execute_statement`. Both are asynchronous: `describe_statement` is polled with a
bounded exponential backoff until FINISHED, FAILED or ABORTED, and the rows come
from `get_statement_result`, page by page.

Values are named parameters (`:name`), passed as strings: Redshift converts them to
the column's type. A failed statement raises `StatementError` with Redshift's message
and the statement id (to look up in SYS_QUERY_HISTORY), never the parameters.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sinks.redshift.statements import Param, Statement

__all__ = ["DataApiExecutor", "StatementError", "StatementTimeoutError"]

_FIRST_POLL_S = 0.1
_MAX_POLL_S = 2.0
_DONE = "FINISHED"
_FAILED = ("FAILED", "ABORTED")


class StatementError(RuntimeError):
    """A statement the Data API reports FAILED or ABORTED: the batch fails."""


class StatementTimeoutError(StatementError):
    """A statement still running after the configured timeout (it is cancelled)."""


class DataApiExecutor:
    """The engine's `Executor` over the Data API, for one database.

    Where: `workgroup` (Serverless), or `cluster_id` with `db_user` (temporary
    credentials) or `secret_arn` (Secrets Manager; also with a workgroup).
    """

    def __init__(
        self,
        client: Any,
        *,
        database: str,
        workgroup: str | None = None,
        cluster_id: str | None = None,
        db_user: str | None = None,
        secret_arn: str | None = None,
        timeout_s: float = 900.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (workgroup is None) == (cluster_id is None):
            raise ValueError("data-api: set exactly one of workgroup and cluster_id")
        self._client = client
        self._where: dict[str, str] = {"Database": database}
        for key, value in (
            ("WorkgroupName", workgroup),
            ("ClusterIdentifier", cluster_id),
            ("DbUser", db_user),
            ("SecretArn", secret_arn),
        ):
            if value is not None:
                self._where[key] = value
        self._timeout_s = timeout_s
        self._sleep = sleep
        self._clock = clock
        self.location = f"redshift-data://{workgroup or cluster_id}/{database}"

    def query(self, statement: Statement) -> list[tuple[Any, ...]]:
        request: dict[str, Any] = {**self._where, "Sql": statement.text(":{}")}
        if statement.params:
            request["Parameters"] = _parameters(statement.params)
        statement_id = self._client.execute_statement(**request)["Id"]
        described = self.wait(statement_id)
        if not described.get("HasResultSet"):
            return []
        return self.results(statement_id)

    def transaction(self, statements: Sequence[Statement]) -> list[int]:
        if not statements:
            return []
        merged: dict[str, Param] = {}
        for statement in statements:
            for name, value in statement.params.items():
                if name in merged and merged[name] != value:
                    raise ValueError(f"parameter :{name} has two values in one transaction")
                merged[name] = value
        request: dict[str, Any] = {
            **self._where,
            "Sqls": [s.text(":{}") for s in statements],
            # The same token on botocore's own retries: the transaction runs once.
            "ClientToken": str(uuid.uuid4()),
        }
        if merged:
            request["Parameters"] = _parameters(merged)
        statement_id = self._client.batch_execute_statement(**request)["Id"]
        described = self.wait(statement_id)
        subs = described.get("SubStatements") or []
        counts = [max(int(s.get("ResultRows", -1)), 0) for s in subs]
        return counts if len(counts) == len(statements) else [0] * len(statements)

    def wait(self, statement_id: str) -> dict[str, Any]:
        """Poll until the statement ends: 0.1 s doubling to 2 s, for at most the timeout."""
        deadline = self._clock() + self._timeout_s
        delay = _FIRST_POLL_S
        while True:
            described: dict[str, Any] = self._client.describe_statement(Id=statement_id)
            status = described.get("Status")
            if status == _DONE:
                return described
            if status in _FAILED:
                error = described.get("Error") or "no error message"
                raise StatementError(
                    f"Redshift Data API statement {statement_id} {str(status).lower()}: {error}"
                )
            if self._clock() + delay > deadline:
                self._cancel(statement_id)
                raise StatementTimeoutError(
                    f"Redshift Data API statement {statement_id} still {status} after "
                    f"{self._timeout_s:.0f} s: cancelled"
                )
            self._sleep(delay)
            delay = min(delay * 2, _MAX_POLL_S)

    def results(self, statement_id: str) -> list[tuple[Any, ...]]:
        """Every row of a finished statement, following NextToken."""
        rows: list[tuple[Any, ...]] = []
        token: str | None = None
        while True:
            page = self._client.get_statement_result(
                Id=statement_id, **({"NextToken": token} if token else {})
            )
            rows.extend(tuple(_value(f) for f in record) for record in page.get("Records", []))
            token = page.get("NextToken")
            if not token:
                return rows

    def _cancel(self, statement_id: str) -> None:
        with contextlib.suppress(Exception):  # best effort: it may have ended meanwhile
            self._client.cancel_statement(Id=statement_id)


def _parameters(params: Mapping[str, Param]) -> list[dict[str, str]]:
    return [{"name": name, "value": str(value)} for name, value in params.items()]


def _value(field: Mapping[str, Any]) -> Any:
    """A Python value from the Data API's field union (one key is set)."""
    if field.get("isNull"):
        return None
    for key in ("longValue", "stringValue", "doubleValue", "booleanValue", "blobValue"):
        if key in field:
            return field[key]
    return None

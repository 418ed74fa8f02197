"""The Redshift Data API executor: against moto's server where it can, botocore's Stubber
where it cannot.

moto's `redshift-data` (5.2) accepts `execute_statement`, `describe_statement`,
`cancel_statement` and `get_statement_result`, but a statement stays STARTED forever,
its result is a fixed three-row table whatever the SQL, and `batch_execute_statement`
answers HTTP 500. So moto proves the requests (SQL, parameters, database, workgroup),
the bounded polling and the cancel, and the decoding of a real response; FINISHED,
FAILED and transactions are proven with a Stubber on a real boto3 client (same
request validation against the service model, canned responses).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import ANY, Stubber

from aws import client
from config import AwsConfig
from sinks.redshift.data_api import DataApiExecutor, StatementError, StatementTimeoutError
from sinks.redshift.dialect import RedshiftDialect
from sinks.redshift.retry import unreachable
from sinks.redshift.statements import Statement

ID = "d9b6c0c9-0747-4bf4-b142-e8883122f766"


class _Clock:
    """Fake time: `sleep` advances it and records each delay."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def moto_data_api(moto_endpoint: str) -> Any:
    return client("redshift-data", AwsConfig(endpoints={"redshift-data": moto_endpoint}))


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    real = boto3.client(
        "redshift-data",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    with Stubber(real) as stubber:
        yield real, stubber
        stubber.assert_no_pending_responses()


def _executor(api: Any, clock: _Clock, timeout_s: float = 60) -> DataApiExecutor:
    return DataApiExecutor(
        api,
        database="dev",
        workgroup="cdc-wg",
        timeout_s=timeout_s,
        sleep=clock.sleep,
        clock=clock.time,
    )


def test_moto_receives_the_statement_with_named_parameters_and_the_workgroup(
    moto_data_api: Any,
) -> None:
    clock = _Clock()
    statement = RedshiftDialect().ledger_of_batch("public", "w-1", 42)

    with pytest.raises(StatementTimeoutError) as raised:
        _executor(moto_data_api, clock, timeout_s=5).query(statement)

    statement_id = str(raised.value).split()[4]
    described = moto_data_api.describe_statement(Id=statement_id)
    assert described["QueryString"] == statement.text(":{}")
    assert ":writer_id" in described["QueryString"] and "w-1" not in described["QueryString"]
    assert described["QueryParameters"] == [
        {"name": "writer_id", "value": "w-1"},
        {"name": "batch_id", "value": "42"},
    ]
    assert described["Database"] == "dev"


def test_polling_backs_off_from_a_tenth_to_two_seconds_then_cancels_at_the_timeout(
    moto_data_api: Any,
) -> None:
    clock = _Clock()

    with pytest.raises(
        StatementTimeoutError, match="still STARTED after 10 s: cancelled"
    ) as raised:
        _executor(moto_data_api, clock, timeout_s=10).query(Statement("SELECT 1"))

    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    statement_id = str(raised.value).split()[4]
    assert moto_data_api.describe_statement(Id=statement_id)["Status"] == "ABORTED"


def test_result_pages_from_moto_decode_to_rows(moto_data_api: Any) -> None:
    submitted = moto_data_api.execute_statement(Sql="SELECT 1", Database="dev", WorkgroupName="wg1")

    rows = _executor(moto_data_api, _Clock()).results(submitted["Id"])

    assert rows == [
        (10, "Alpha st", "Vancouver"),
        (50, "Beta st", "Toronto"),
        (100, "Gamma av", "Seattle"),
    ]


def test_a_transaction_is_one_batch_execute_statement_polled_to_finished(
    stubbed: tuple[Any, Stubber],
) -> None:
    """Stubber: moto has no batch_execute_statement and never finishes a statement."""
    api, stubber = stubbed
    statements = [
        Statement('LOCK "public"."d"'),
        Statement("DELETE FROM t WHERE id = {table_name}", {"table_name": "t"}),
        Statement(
            "INSERT INTO l SELECT {table_name}, {batch_id}", {"table_name": "t", "batch_id": 3}
        ),
    ]
    stubber.add_response(
        "batch_execute_statement",
        {"Id": ID},
        {
            "Sqls": [
                'LOCK "public"."d"',
                "DELETE FROM t WHERE id = :table_name",
                "INSERT INTO l SELECT :table_name, :batch_id",
            ],
            "Database": "dev",
            "WorkgroupName": "cdc-wg",
            "Parameters": [
                {"name": "table_name", "value": "t"},
                {"name": "batch_id", "value": "3"},
            ],
            "ClientToken": ANY,
        },
    )
    stubber.add_response("describe_statement", {"Id": ID, "Status": "SUBMITTED"}, {"Id": ID})
    stubber.add_response("describe_statement", {"Id": ID, "Status": "STARTED"}, {"Id": ID})
    subs = [{"Id": f"{ID}:{i}", "ResultRows": n} for i, n in ((1, -1), (2, 4), (3, 1))]
    stubber.add_response(
        "describe_statement", {"Id": ID, "Status": "FINISHED", "SubStatements": subs}, {"Id": ID}
    )
    clock = _Clock()

    counts = _executor(api, clock).transaction(statements)

    assert counts == [0, 4, 1]
    assert clock.sleeps == [0.1, 0.2]


def test_a_failed_statement_fails_the_batch_with_redshifts_message_and_its_id(
    stubbed: tuple[Any, Stubber],
) -> None:
    """Stubber: moto cannot make a statement fail."""
    api, stubber = stubbed
    error = 'ERROR: relation "public.orders__stage_3" does not exist'
    stubber.add_response("batch_execute_statement", {"Id": ID}, None)
    stubber.add_response(
        "describe_statement", {"Id": ID, "Status": "FAILED", "Error": error}, {"Id": ID}
    )

    with pytest.raises(StatementError) as raised:
        _executor(api, _Clock()).transaction(
            [Statement("INSERT INTO x SELECT {writer_id}", {"writer_id": "secret-writer"})]
        )

    message = str(raised.value)
    assert error in message and ID in message
    assert "secret-writer" not in message  # parameters never reach the error
    assert not unreachable(raised.value)


def test_a_query_reads_every_result_page(stubbed: tuple[Any, Stubber]) -> None:
    api, stubber = stubbed
    stubber.add_response("execute_statement", {"Id": ID}, None)
    stubber.add_response(
        "describe_statement", {"Id": ID, "Status": "FINISHED", "HasResultSet": True}, {"Id": ID}
    )
    stubber.add_response(
        "get_statement_result",
        {"Records": [[{"longValue": 1}, {"isNull": True}]], "NextToken": "page-2"},
        {"Id": ID},
    )
    stubber.add_response(
        "get_statement_result",
        {"Records": [[{"longValue": 2}, {"stringValue": "b"}]]},
        {"Id": ID, "NextToken": "page-2"},
    )

    rows = _executor(api, _Clock()).query(Statement("SELECT id, name FROM t"))

    assert rows == [(1, None), (2, "b")]


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (ClientError({"Error": {"Code": "ThrottlingException"}}, "ExecuteStatement"), True),
        (
            ClientError(
                {"Error": {"Code": "ActiveStatementsExceededException"}}, "BatchExecuteStatement"
            ),
            True,
        ),
        (
            EndpointConnectionError(endpoint_url="https://redshift-data.us-east-1.amazonaws.com"),
            True,
        ),
        (ClientError({"Error": {"Code": "ValidationException"}}, "ExecuteStatement"), False),
        (StatementError("statement x failed: syntax error"), False),
    ],
)
def test_throttling_and_unreachable_endpoints_are_retried_other_errors_are_not(
    error: Exception, retried: bool
) -> None:
    assert unreachable(error) is retried


def test_a_refused_endpoint_is_unreachable_through_a_real_client() -> None:
    api = boto3.client(
        "redshift-data",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )

    with pytest.raises(Exception) as raised:
        api.describe_statement(Id=ID)

    assert unreachable(raised.value)

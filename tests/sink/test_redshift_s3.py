"""Staging through S3: Parquet written by Spark to a real S3 API (moto's server), the COPY
text Redshift receives, overwrite on retry, cleanup after commit.

PostgreSQL has no COPY from S3. To run the rest of the path (merge, ledger) after a real
S3 staging, `MotoParquetIntoPostgres` (test only) replaces the COPY statement: it reads
the staged objects back from moto and inserts their rows BY POSITION, as Redshift's
Parquet COPY maps columns, so a column order that differs from the stage table fails.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from aws import client, s3a_settings
from config import AwsConfig
from sinks.redshift import ConnectionSettings, WarehouseEngine
from sinks.redshift.dialect import Dialect, RedshiftDialect
from sinks.redshift.s3_staging import S3Stage
from sinks.redshift.statements import Statement, quote

ROLE = "arn:aws:iam::123456789012:role/redshift-copy"
SCHEMA = (
    "id int, name string, amount decimal(10,2), at timestamp, small tinyint, "
    "_op string, _seq string, _pos string, _commit_ts timestamp"
)
AT = datetime(2024, 5, 1, 12, 30, 15, 123456)


class MotoParquetIntoPostgres(S3Stage):
    """Test only: loads the staged Parquet from moto into PostgreSQL instead of COPY.

    One INSERT without a column list, values as parameters: positions decide, like
    Redshift's COPY ... FORMAT AS PARQUET. Records what it read, for the assertions.
    """

    read: list[pa.Table]

    def __init__(self, path: str, s3: Any) -> None:
        super().__init__(path, ROLE, lambda: s3)
        self.read = []

    def load(self, dialect: Dialect, schema: str, stage: str, folder: str) -> list[Statement]:
        tables = [
            pq.read_table(
                io.BytesIO(self.client().get_object(Bucket=self.bucket, Key=k)["Body"].read())
            )
            for k, _ in self.data_files(folder)
        ]
        self.read.extend(tables)
        rows = [r for t in tables for r in zip(*t.to_pydict().values(), strict=True)]
        if not rows:
            return []
        params: dict[str, Any] = {}
        tuples = []
        for i, row in enumerate(rows):
            names = []
            for j, value in enumerate(row):
                params[f"v{i}_{j}"] = value
                names.append(f"{{v{i}_{j}}}")
            tuples.append(f"({', '.join(names)})")
        sql = f"INSERT INTO {quote(schema)}.{quote(stage)} VALUES {', '.join(tuples)}"
        return [Statement(sql, params)]


@pytest.fixture(scope="module")
def s3(spark: SparkSession, moto_endpoint: str) -> Iterator[Any]:
    """moto's S3 for boto3 and for Spark (S3A on `s3://`, path-style, plain HTTP)."""
    aws = AwsConfig(endpoints={"s3": moto_endpoint})
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in s3a_settings(aws).items():
        hadoop.set(key.removeprefix("spark.hadoop."), value)
    hadoop.set("fs.s3a.access.key", "local")
    hadoop.set("fs.s3a.secret.key", "local")
    hadoop.set(
        "fs.s3a.aws.credentials.provider", "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
    )
    hadoop.set("fs.s3.impl.disable.cache", "true")
    s3_client = client("s3", aws)
    yield s3_client


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"stage-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


def _keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def _changes(spark: SparkSession, rows: list[tuple[Any, ...]]) -> Any:
    return spark.createDataFrame([(*r, None) for r in rows], SCHEMA)


def _engine(postgres: ConnectionSettings, stage: S3Stage, table: str) -> WarehouseEngine:
    engine = WarehouseEngine(postgres, schema="public", table=table, keys=["id"], staging=stage)
    engine.recover()
    return engine


def test_the_copy_statement_reads_the_batch_prefix_as_parquet_with_the_iam_role() -> None:
    stage = S3Stage("s3a://bucket/cdc/stage/", ROLE, lambda: None)
    folder = stage.folder("orders", "w-1", 7)
    url = f"s3://{stage.bucket}/{folder}part-"

    sql = RedshiftDialect().copy_parquet("public", "orders__stage_7", url, ROLE).sql

    assert folder == "cdc/stage/orders/w-1/7/"
    assert sql == (
        'COPY "public"."orders__stage_7" FROM \'s3://bucket/cdc/stage/orders/w-1/7/part-\' '
        "IAM_ROLE 'arn:aws:iam::123456789012:role/redshift-copy' FORMAT AS PARQUET"
    )


def test_a_quote_in_the_staging_url_is_refused_not_spliced_into_the_copy() -> None:
    with pytest.raises(ValueError, match="quote"):
        RedshiftDialect().copy_parquet("public", "t__stage_1", "s3://b/x'; DROP TABLE t;--", ROLE)


def test_a_batch_lands_as_parquet_under_table_writer_batch_in_the_stage_column_order(
    spark: SparkSession, postgres: ConnectionSettings, s3: Any, bucket: str
) -> None:
    stage = MotoParquetIntoPostgres(f"s3://{bucket}/cdc", s3)
    table = f"t_{uuid.uuid4().hex[:8]}"
    engine = _engine(postgres, stage, table)
    rows = [
        (1, "a", Decimal("10.50"), AT, 3, "I", "001", "p1"),
        (2, "b", Decimal("-0.01"), None, None, "I", "001", "p2"),
        (2, "b2", Decimal("7.00"), AT, 1, "U", "002", "p3"),  # same key, later: wins
    ]

    result = engine.apply(_changes(spark, rows), 0, "w-1")

    schema = stage.read[0].schema
    assert schema.names == ["id", "name", "amount", "at", "small", "_op", "_seq", "_pos"]
    assert schema.field("id").type == pa.int32()
    assert schema.field("name").type == pa.string()
    assert schema.field("amount").type == pa.decimal128(10, 2)
    assert pa.types.is_timestamp(schema.field("at").type)
    assert schema.field("small").type == pa.int16()  # tinyint widened to the stage's SMALLINT
    assert (result.changes_in, result.upserts, result.deletes, result.stale) == (2, 2, 0, 0)
    with postgres.connect() as conn:
        cur = conn.cursor()
        cur.execute(f'SELECT id, name, amount, at, small FROM public."{table}" ORDER BY id')
        assert cur.fetchall() == [
            (1, "a", Decimal("10.50"), AT, 3),
            (2, "b2", Decimal("7.00"), AT, 1),
        ]


def test_spark_writes_the_batch_under_its_folder_and_a_retry_overwrites_it(
    spark: SparkSession, s3: Any, bucket: str
) -> None:
    stage = S3Stage(f"s3://{bucket}/cdc", ROLE, lambda: s3)
    df = spark.range(6).selectExpr("CAST(id AS INT) AS id", "'x' AS name")

    first = stage.write(df.repartition(3), "orders", "w-1", 5)
    files_first = stage.data_files(first)
    again = stage.write(df.coalesce(1), "orders", "w-1", 5)  # the retried batch

    assert first == again == "cdc/orders/w-1/5/"
    assert len(files_first) == 3
    files = stage.data_files(again)
    assert len(files) == 1 and files[0][0].startswith("cdc/orders/w-1/5/part-")
    assert all(k.startswith("cdc/orders/w-1/5/") for k in _keys(s3, bucket))
    body = s3.get_object(Bucket=bucket, Key=files[0][0])["Body"].read()
    assert pq.read_table(io.BytesIO(body)).num_rows == 6  # not 12: overwritten, not added
    copy = stage.load(RedshiftDialect(), "public", "orders__stage_5", again)
    assert [s.sql for s in copy] == [
        f'COPY "public"."orders__stage_5" FROM \'s3://{bucket}/cdc/orders/w-1/5/part-\' '
        f"IAM_ROLE '{ROLE}' FORMAT AS PARQUET"
    ]


def test_a_committed_batch_leaves_no_staged_objects_and_its_replay_is_a_no_op(
    spark: SparkSession, postgres: ConnectionSettings, s3: Any, bucket: str
) -> None:
    stage = MotoParquetIntoPostgres(f"s3://{bucket}/cdc", s3)
    table = f"t_{uuid.uuid4().hex[:8]}"
    engine = _engine(postgres, stage, table)
    changes = _changes(spark, [(1, "a", Decimal("1.00"), AT, 1, "I", "001", "p1")])
    engine.apply(changes, 0, "w-1")
    delete = _changes(spark, [(1, None, None, None, None, "D", "002", "p2")])

    result = engine.apply(delete, 1, "w-1")
    replay = engine.apply(delete, 1, "w-1")

    assert (result.deletes, replay.skipped) == (1, True)
    assert _keys(s3, bucket) == []
    with postgres.connect() as conn:
        cur = conn.cursor()
        cur.execute(f'SELECT COUNT(*) FROM public."{table}"')
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT COUNT(*) FROM public.stream_cdc_ledger WHERE table_name = %s", (table,))
        assert cur.fetchone()[0] == 2


def test_an_empty_batch_issues_no_copy(s3: Any, bucket: str) -> None:
    stage = S3Stage(f"s3://{bucket}/cdc", ROLE, lambda: s3)

    assert stage.load(RedshiftDialect(), "public", "t__stage_1", "cdc/t/w/1/") == []

"""What the lake's driver-side file operations cost on an object store, one partition at a
time (the naive baseline) against `_FILE_THREADS` partitions at once (the engine).

A table of `--partitions` day partitions on S3 (the local AWS-API server: it answers in
a few milliseconds, where S3 takes tens, so the ratio here understates what threads
save on S3). Batch 0 loads it; each measured batch updates one row in every partition,
so it lists, moves and deletes files in all of them. Both settings run interleaved in
one run, each on a table of its own.

    python -m bench.lake_publish_s3 [--partitions 200] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import uuid
from pathlib import Path
from typing import Any

import boto3
from pyspark.sql import SparkSession

import sinks.lake.publish as lake_publish
from config import AwsConfig
from local.aws_servers import LOCAL_ENV, start_moto
from runtime.session import configure_s3, local_session
from sinks.lake import LakeEngine

RESULTS = Path(__file__).parent / "results" / "lake_publish_s3.json"
SCHEMA = "id int, name string, day int, _op string, _seq string, _pos string, _commit_ts timestamp"
ROWS_PER_PARTITION = 5


def session(endpoint: str) -> SparkSession:
    spark = local_session("bench-lake-publish-s3", shuffle_partitions=4)
    configure_s3(spark, AwsConfig(endpoints={"s3": endpoint}))
    hadoop: Any = spark.sparkContext._jsc.hadoopConfiguration()
    hadoop.set("fs.s3a.access.key", LOCAL_ENV["AWS_ACCESS_KEY_ID"])
    hadoop.set("fs.s3a.secret.key", LOCAL_ENV["AWS_SECRET_ACCESS_KEY"])
    return spark


def batch(spark: SparkSession, partitions: int, version: int) -> Any:
    """Batch 0: every row; batch n: the first row of every partition renamed."""
    per = ROWS_PER_PARTITION if version == 0 else 1
    op = "I" if version == 0 else "U"
    rows = [
        (day * ROWS_PER_PARTITION + i, f"v{version}", day, op, str(version + 1), f"{version}", None)
        for day in range(partitions)
        for i in range(per)
    ]
    return spark.createDataFrame(rows, SCHEMA)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partitions", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="measured batches per setting")
    args = parser.parse_args(argv)

    os.environ.update(LOCAL_ENV)  # the local server's credentials, for boto3 and S3A
    moto = start_moto()
    try:
        spark = session(moto.endpoint)
        s3 = boto3.client("s3", endpoint_url=moto.endpoint)
        threads = lake_publish._FILE_THREADS
        settings = {"one at a time": 1, f"{threads} at once": threads}
        engines: dict[str, LakeEngine] = {}
        for name in settings:
            bucket = f"bench-{uuid.uuid4().hex[:10]}"
            s3.create_bucket(Bucket=bucket)
            engines[name] = LakeEngine(
                spark, f"s3a://{bucket}/t", keys=["id"], partition_by=["day"]
            )
        times: dict[str, dict[str, list[float]]] = {
            n: {"stage": [], "publish": []} for n in settings
        }
        for version in range(args.repeat + 1):
            for name, count in settings.items():
                lake_publish._FILE_THREADS = count
                result = engines[name].apply(batch(spark, args.partitions, version), version, "w")
                if version == 0:
                    continue  # the load: not measured
                times[name]["stage"].append(result.timings["rewrite_s"])
                times[name]["publish"].append(result.timings["publish_s"])
        print(f"lake on S3 (local AWS-API server), {args.partitions} partitions rewritten a batch")
        print(f"{'':16}{'stage (s)':>12}{'publish (s)':>14}")
        report: dict[str, Any] = {"partitions": args.partitions, "settings": {}}
        for name in settings:
            stage = statistics.median(times[name]["stage"])
            publish = statistics.median(times[name]["publish"])
            report["settings"][name] = {"stage_s": stage, "publish_s": publish}
            print(f"{name:16}{stage:12.2f}{publish:14.2f}")
        base, ours = (report["settings"][n]["publish_s"] for n in settings)
        print(f"publish: {base / ours:.1f}x faster with threads")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2))
        print(f"written {RESULTS}")
    finally:
        moto.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

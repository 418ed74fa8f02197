"""`python -m deploy glue ...`: package, upload, create or update, and start the Glue job.

Exit codes: 0 deployed (or dry run printed), 1 an AWS call failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws import client
from config import ConfigError, IcebergTarget, JobConfig, load_config
from config.load import is_s3_url
from deploy.glue_job import GLUE_VERSION, DeployError, JobSpec, Service, execute, plan
from sinks.iceberg.conf import spark_catalog_conf

WORKER_TYPES = ("G.025X", "G.1X", "G.2X", "G.4X", "G.8X")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$")


# long: one argparse definition per option, with its help.
def parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command line, and its `glue` command (whose errors name its flags)."""
    root = argparse.ArgumentParser(
        prog="python -m deploy",
        description="Deploy stream-cdc to AWS.",
        allow_abbrev=False,
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    glue = commands.add_parser(
        "glue",
        help="package, upload and create/update (and start) an AWS Glue streaming job",
        description=(
            f"Upload the job's script, its packages (a zip for --extra-py-files) and its "
            f"config to s3://BUCKET/PREFIXJOB_NAME/, then create the Glue {GLUE_VERSION} "
            "streaming job, or update it if it exists; with --start, start a run."
        ),
        epilog=(
            "The job reads its config from S3 (--config s3://...). Libraries Glue lacks are\n"
            "installed from PyPI at start (--additional-python-modules, pinned as in\n"
            "pyproject.toml). Credentials and region come from the usual AWS sources.\n\n"
            "example:\n"
            "  python -m deploy glue --config conf/sports.yaml --bucket my-artifacts \\\n"
            "      --job-name sports-cdc --role arn:aws:iam::123456789012:role/GlueCdc \\\n"
            "      --connection vpc-redshift --secret arn:aws:secretsmanager:...:secret:wh \\\n"
            "      --start"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    glue.add_argument("--config", required=True, type=Path, help="the job's config YAML")
    glue.add_argument("--bucket", required=True, help="S3 bucket for the script, zip and config")
    glue.add_argument(
        "--prefix", default="stream-cdc/", help="key prefix in the bucket (default: %(default)s)"
    )
    glue.add_argument("--job-name", required=True, help="the Glue job's name")
    glue.add_argument("--role", required=True, help="IAM role (name or ARN) the job runs as")
    glue.add_argument(
        "--worker-type", default="G.1X", choices=WORKER_TYPES, help="(default: %(default)s)"
    )
    glue.add_argument(
        "--workers", type=_positive, default=2, metavar="N", help="(default: %(default)s)"
    )
    glue.add_argument(
        "--connection",
        dest="connections",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME",
        help="Glue connection(s) giving the job its network path (VPC), repeatable",
    )
    glue.add_argument(
        "--secret",
        metavar="ARN",
        help="Secrets Manager secret holding the warehouse password; passed to the job as "
        "--redshift-secret-arn, read into target.password_env",
    )
    glue.add_argument(
        "--hmac-secret",
        metavar="ARN",
        help="Secrets Manager secret holding the tokenization key; passed to the job as "
        "--hmac-secret-arn, read into privacy.hmac_key_env",
    )
    glue.add_argument("--region", help="AWS region (default: the usual AWS configuration)")
    glue.add_argument(
        "--endpoint-url", metavar="URL", help="S3 and Glue endpoint, e.g. a local server"
    )
    glue.add_argument("--start", action="store_true", help="start a job run after deploying")
    glue.add_argument(
        "--dry-run",
        action="store_true",
        help="print every AWS call, in order, and make none (no credentials needed)",
    )
    template = commands.add_parser(
        "cloudformation",
        help="write the Glue job of deploy/cloudformation/stream-cdc.yaml from this deploy's "
        "definition of it",
        description="The template's Glue job is generated from the definition `glue` deploys "
        "(deploy/glue_job.py), so the two cannot differ.",
    )
    template.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if the template differs"
    )
    return root, glue


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    root, glue = parsers()
    args = root.parse_args(argv)
    if args.command == "cloudformation":
        return _cloudformation(check=args.check)
    spec, config = _spec(args, glue)
    for warning in _warnings(config):
        print(f"warning: {warning}", file=sys.stderr)
    calls = plan(spec, start=args.start)
    if args.dry_run:
        print(f"dry run: {len(calls)} calls, none made")
        for call in calls:
            print(call.describe())
        return 0
    try:
        for line in execute(calls, _clients(args.region, args.endpoint_url)):
            print(line)
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"deployed {spec.job_name}: a Glue {GLUE_VERSION} streaming job")
    return 0


def _cloudformation(*, check: bool) -> int:
    from deploy.cloudformation import TEMPLATE, write

    same = write(check=check)
    if check and not same:
        print(f"{TEMPLATE}: its Glue job differs; run python -m deploy cloudformation")
        return 1
    print(f"{TEMPLATE}: {'unchanged' if same else 'Glue job rewritten'}")
    return 0


def _spec(args: argparse.Namespace, glue: argparse.ArgumentParser) -> tuple[JobSpec, JobConfig]:
    """Check what argparse cannot; errors name the flag and exit 2."""
    if not _BUCKET.match(args.bucket):
        glue.error(f"--bucket {args.bucket!r}: not an S3 bucket name")
    prefix = args.prefix.strip("/")
    if args.secret and not _SECRET_ARN.match(args.secret):
        glue.error(
            f"--secret {args.secret!r}: expected arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME"
        )
    if args.hmac_secret and not _SECRET_ARN.match(args.hmac_secret):
        glue.error(
            f"--hmac-secret {args.hmac_secret!r}: "
            "expected arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME"
        )
    if not args.job_name.strip() or len(args.job_name) > 255:
        glue.error("--job-name: 1 to 255 characters")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        glue.error(f"--config: {exc}")
    if args.secret and config.target.kind != "redshift":
        glue.error(f"--secret: the config's target.kind is {config.target.kind!r}, not 'redshift'")
    spec = JobSpec(
        config=args.config,
        bucket=args.bucket,
        prefix=f"{prefix}/" if prefix else "",
        job_name=args.job_name,
        role=args.role,
        worker_type=args.worker_type,
        workers=args.workers,
        connections=tuple(args.connections),
        secret_arn=args.secret,
        hmac_secret_arn=args.hmac_secret,
        delta=config.target.kind == "delta",
        iceberg=(
            spark_catalog_conf(config.target, config.aws)
            if isinstance(config.target, IcebergTarget)
            else None
        ),
    )
    return spec, config


def _local_paths(config: JobConfig) -> list[tuple[str, str]]:
    paths = {
        "checkpoint": config.checkpoint,
        "quarantine.path": config.quarantine.path,
        "source.path": getattr(config.source, "path", None),
        "target.path": getattr(config.target, "path", None),
    }
    return [(k, v) for k, v in paths.items() if isinstance(v, str) and not is_s3_url(v)]


def _warnings(config: JobConfig) -> list[str]:
    """What would not hold on Glue, though the config is valid."""
    found = [
        f"{key} is {value!r}, not s3://...: a Glue run does not keep local files"
        for key, value in _local_paths(config)
    ]
    target = config.target
    if isinstance(target, IcebergTarget) and target.catalog == "hadoop":
        found.append(
            "target.catalog is 'hadoop': its commits rename a file, which S3 cannot do "
            "atomically; use catalog: glue on AWS (docs/aws.md, Iceberg on Glue)"
        )
    return found


@dataclass(frozen=True)
class _Where:
    """The deploy's AWS settings: --region (else boto3's default) and --endpoint-url."""

    region: str | None
    endpoint_url: str | None

    def endpoint(self, service: str) -> str | None:
        return self.endpoint_url


def _clients(region: str | None, endpoint_url: str | None) -> Callable[[Service], Any]:
    where = _Where(region, endpoint_url)

    def glue_or_s3(service: Service) -> Any:
        return client(service, where)

    return glue_or_s3


if __name__ == "__main__":
    sys.exit(main())

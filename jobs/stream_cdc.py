"""stream-cdc: apply a database's changes (DMS records in files or on Kinesis, Debezium
events on Kafka) to warehouse or lake tables, one streaming query per source.

Run with no arguments to try it: an embedded demo generates DMS change files
shaped like the `cases` table of the seed article and processes them once.

The same script is the AWS Glue streaming job's script (`python -m deploy glue`): on
Glue, Glue's own `--KEY VALUE` arguments are let through and the session comes from
a GlueContext (runtime/glue.py).
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from config import JobConfig
from config.load import ConfigError, redacted_yaml
from jobs.cli import add_config_arguments, config_error, load_job_config
from runtime.glue import running_on_glue, with_hmac_secret, with_redshift_secret

if TYPE_CHECKING:
    from runtime.runner import Run

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "conf" / "demo.yaml"

log = logging.getLogger("stream_cdc")

# Exit codes, one per class of failure (docs/operations.md, "Stopping, failing, exit codes").
EXIT_OK = 0
EXIT_QUERY_FAILED = 1  # a query stopped on an error while running
EXIT_CONFIG = 2  # bad config or arguments, missing landing folder: nothing was read
EXIT_START_FAILED = 3  # the job could not start: target, checkpoint or source unusable
EXIT_ABORTED = 130  # a second Ctrl-C: stopped without finishing the batch


# long: one argparse definition per option, and Glue's way of passing them.
def parse_args(argv: list[str], *, glue: bool | None = None) -> argparse.Namespace:
    """The job's arguments; on Glue (`glue`, detected when None) Glue's own are ignored.

    Glue passes every job parameter as `--KEY VALUE`, its own included (`--JOB_NAME`,
    `--TempDir`, `--enable-metrics`, ...), and cannot pass a flag without a value:
    there `--once` and `--print-config` also take `true`/`false`. An unknown flag that
    looks like one of ours (`--onse`) is still an error, so a typo is not ignored.
    """
    on_glue = running_on_glue(argv) if glue is None else glue
    parser = argparse.ArgumentParser(
        prog="stream_cdc.py",
        description=(
            "Apply the inserts, updates and deletes captured from a database to its tables in "
            "a warehouse or a lake, every table of a source in one streaming query. Without "
            "--config, runs the embedded demo (generated DMS files -> Parquet lake)."
        ),
        epilog=(
            "examples:\n"
            "  ./spark-submit.sh jobs/stream_cdc.py                      # demo\n"
            "  ./spark-submit.sh jobs/stream_cdc.py --config conf/sports.yaml --once\n"
            "  ./spark-submit.sh jobs/stream_cdc.py --config conf/sports.yaml \\\n"
            "      --set target.path=/data/lake --print-config"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # Never take a prefix for a flag: Glue's `--conf` would otherwise be `--config`.
        allow_abbrev=False,
    )
    add_config_arguments(
        parser,
        config_help="job config YAML, a file or s3://bucket/key.yaml (default: the embedded demo)",
        set_help="override a config key, e.g. --set target.path=/tmp/lake (repeatable)",
    )
    _add_switch(
        parser,
        "--once",
        "process everything available, then exit (default: run until Ctrl-C)",
        valued=on_glue,
    )
    _add_switch(
        parser,
        "--print-config",
        "print the effective config (secrets redacted) and exit",
        valued=on_glue,
    )
    parser.add_argument(
        "--redshift-secret-arn",
        metavar="ARN",
        help="read the warehouse password from this Secrets Manager secret into "
        "target.password_env (how a Glue job gets it)",
    )
    parser.add_argument(
        "--hmac-secret-arn",
        metavar="ARN",
        help="read the tokenization key from this Secrets Manager secret into "
        "privacy.hmac_key_env (how a Glue job gets it)",
    )
    if not on_glue:
        return parser.parse_args(argv)
    args, others = parser.parse_known_args(argv)
    flags = sorted({token.split("=", 1)[0] for token in others if token.startswith("--")})
    for name in flags:
        close = difflib.get_close_matches(name, _OPTIONS, n=1, cutoff=0.8)
        if close and name not in _GLUE_PARAMETERS:
            parser.error(f"unrecognized arguments: {name} (did you mean {close[0]}?)")
    log.debug("job arguments left to Glue: %s", " ".join(flags))
    return args


_OPTIONS = (
    "--config",
    "--once",
    "--set",
    "--print-config",
    "--redshift-secret-arn",
    "--hmac-secret-arn",
)

# Glue's own job parameters (AWS Glue developer guide, "Using job parameters in AWS Glue
# jobs"), exempt from the look-alike check: `--conf` is Glue's, not a typo of `--config`.
_GLUE_PARAMETERS = frozenset(
    {
        "--JOB_NAME", "--JOB_ID", "--JOB_RUN_ID", "--TempDir", "--RedshiftTempDir",
        "--SECURITY_CONFIGURATION", "--encryption-type", "--conf", "--class",
        "--job-language", "--job-bookmark-option", "--continuation-option",
        "--job-bookmark-from", "--job-bookmark-to", "--scriptLocation",
        "--extra-py-files", "--extra-jars", "--extra-files", "--user-jars-first",
        "--additional-python-modules", "--python-modules-installer-option",
        "--datalake-formats", "--enable-glue-datacatalog", "--enable-metrics",
        "--enable-observability-metrics", "--enable-continuous-cloudwatch-log",
        "--enable-continuous-log-filter", "--continuous-log-logGroup",
        "--continuous-log-logStreamPrefix", "--continuous-log-conversionPattern",
        "--enable-spark-ui", "--spark-event-logs-path", "--enable-job-insights",
        "--enable-auto-scaling", "--auto-scale-within-microbatch",
        "--customer-driver-env-vars", "--customer-executor-env-vars",
    }
)  # fmt: skip


def _add_switch(
    parser: argparse.ArgumentParser, name: str, help_text: str, *, valued: bool
) -> None:
    """A flag; `valued`, it also takes true/false, since Glue passes every parameter
    with a value (`--once true`)."""
    if valued:
        parser.add_argument(
            name,
            nargs="?",
            const=True,
            default=False,
            type=_true_or_false,
            metavar="BOOL",
            help=help_text,
        )
    else:
        parser.add_argument(name, action="store_true", help=help_text)


def _true_or_false(text: str) -> bool:
    value = text.strip().lower()
    if value in {"", "true", "1", "yes"}:
        return True
    if value in {"false", "0", "no"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    glue = running_on_glue(arguments)
    args = parse_args(arguments, glue=glue)
    configure_logging()
    demo = args.config is None
    if demo and glue:
        print("error: --config is required on Glue (e.g. s3://bucket/job.yaml)", file=sys.stderr)
        return EXIT_CONFIG
    try:
        config = load_job_config(args, DEMO_CONFIG)
        if args.print_config:
            print(redacted_yaml(config), end="")
            return EXIT_OK
        if args.redshift_secret_arn:
            config = with_redshift_secret(config, args.redshift_secret_arn)
        if args.hmac_secret_arn:
            config = with_hmac_secret(config, args.hmac_secret_arn)
    except ConfigError as exc:
        return config_error(exc, EXIT_CONFIG)
    for notice in config.privacy_notices():
        log.warning(notice)
    if demo:
        _generate_demo_data(config)
    return _run(config, once=args.once or demo)


# Libraries whose INFO lines are plumbing: py4j's callback server logs every call from the
# JVM ("Received command c on object id p0"), two thirds of a run's lines.
_QUIET_LIBRARIES = ("py4j", "botocore", "urllib3")


def configure_logging() -> None:
    """The job's own lines at INFO (STREAM_CDC_LOG_LEVEL to change), libraries only when
    something is wrong: the log shows the job, not its plumbing.

    Under spark-submit nothing is configured yet and this sets up stderr. On Glue the
    runtime has configured the root logger already (basicConfig then does nothing, and
    its level may be INFO), so the libraries' levels are set by name, whoever launched.
    """
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    log.setLevel(os.environ.get("STREAM_CDC_LOG_LEVEL", "INFO").upper())
    callbacks = logging.getLogger("py4j.clientserver")
    for existing in [f for f in callbacks.filters if isinstance(f, _ProxyTraces)]:
        callbacks.removeFilter(existing)
    if not log.isEnabledFor(logging.DEBUG):
        callbacks.addFilter(_ProxyTraces())


class _ProxyTraces(logging.Filter):
    """py4j logs a Python error raised in code the JVM called (a batch) at ERROR with its
    whole trace; the same error ends the query and the job's last line says it
    (runtime/errors.py). Shown at DEBUG only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("There was an exception while executing")


def _generate_demo_data(config: JobConfig) -> None:
    from config import FilesSource
    from simulators.cases import generate

    assert isinstance(config.source, FilesSource), "the demo reads DMS files"
    generated = generate(Path(config.source.path))
    log.info(
        "demo: %d DMS files in %s (%d new)",
        len(generated.files),
        config.source.path,
        len(generated.written),
    )


def _run(config: JobConfig, *, once: bool) -> int:
    """Run the job; whatever stops it, the log ends with one line saying why."""
    from runtime.errors import reason
    from runtime.metrics import render_summary

    try:
        outcome = _start_and_run(config, once=once)
    except (ConfigError, FileNotFoundError) as exc:
        return _fail(EXIT_CONFIG, str(exc))
    except KeyboardInterrupt:
        return _fail(EXIT_ABORTED, "aborted by a second Ctrl-C; the next start carries on")
    except Exception as exc:  # any failure: one line, the trace at DEBUG
        log.debug("the job could not start or stopped outside a query", exc_info=exc)
        return _fail(EXIT_START_FAILED, f"could not start: {reason(exc)}")
    print(
        render_summary(
            outcome.tables,
            outcome.duration_s,
            config.quarantine.path,
            other_tables=outcome.other_tables,
            unrouted=outcome.unrouted,
        )
    )
    for error in outcome.errors:
        print(f"error: {error}", file=sys.stderr)
    return EXIT_QUERY_FAILED if outcome.errors else EXIT_OK


def _start_and_run(config: JobConfig, *, once: bool) -> Run:
    from runtime.glue import glue_session
    from runtime.runner import run
    from runtime.session import spark_session

    spark = glue_session() or spark_session(config.name, config.aws)
    return run(spark, config, once=once)


def _fail(code: int, message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())

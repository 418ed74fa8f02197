"""stream-cdc status: how a job's tables stand, without starting a stream.

Reads the checkpoint, the job's record beside it, the target and the source (see
runtime/status_read.py) and prints a table, or JSON with --json. The exit code is for
scripts and schedulers: 0 healthy, 1 lagging beyond --max-lag, 2 broken (a checkpoint
unreadable, a table stopped, the last run ended on a fatal error) or a bad config.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from config import JobConfig
from config.load import ConfigError
from jobs.cli import add_config_arguments, config_error, load_job_config

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "conf" / "demo.yaml"
DEFAULT_MAX_LAG = "15 minutes"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.status",
        description=(
            "Show, for every replicated table, the last batch, rows and tombstones in the\n"
            "target, changes applied and quarantined (in total and in the last hour), what\n"
            "the source still holds and whether the query runs. Starts no stream."
        ),
        epilog=(
            "exit codes: 0 healthy, 1 lagging (changes wait longer than --max-lag),\n"
            "            2 broken (checkpoint unreadable, table stopped, last run failed)\n"
            "examples:\n"
            "  python -m jobs.status --config conf/sports.yaml\n"
            "  python -m jobs.status --config conf/sports.yaml --json --max-lag '5 minutes'\n"
            "  python -m jobs.status --config conf/demo.yaml --set checkpoint=/data/ck"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    add_config_arguments(
        parser,
        config_help="job config YAML, a file or s3://bucket/key.yaml (default: the embedded demo)",
        set_help="override a config key as the job was run with it (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument(
        "--max-lag",
        default=DEFAULT_MAX_LAG,
        metavar="DURATION",
        help="lagging when a change waits longer than this, e.g. 90s, 5 minutes, 1h "
        f"(default: {DEFAULT_MAX_LAG})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    from runtime.status import parse_duration

    try:
        max_lag_s = parse_duration(args.max_lag)
        config = load_job_config(args, DEMO_CONFIG)
        parse_duration(config.trigger_interval)  # judged against it: checked before Spark
    except (ConfigError, ValueError) as exc:
        return config_error(exc)
    return _status(config, max_lag_s=max_lag_s, as_json=args.json)


def _status(config: JobConfig, *, max_lag_s: float, as_json: bool) -> int:
    from runtime.session import configure_s3, local_session
    from runtime.status import health, render_json, render_text
    from runtime.status_read import read_status

    # A look, not a job: a small local session (no web UI, a quiet log) reads the files.
    log4j = f"-Dlog4j2.configurationFile={REPO / 'conf' / 'log4j2.properties'}"
    spark = local_session(
        f"{config.name}-status",
        driver_memory="1g",
        shuffle_partitions=2,
        extra={"spark.driver.extraJavaOptions": log4j},
    )
    configure_s3(spark, config.aws)
    try:
        report = read_status(spark, config, max_lag_s=max_lag_s)
    finally:
        spark.stop()
    code = health(report)
    print(render_json(report, code) if as_json else render_text(report, code))
    return code


if __name__ == "__main__":
    sys.exit(main())

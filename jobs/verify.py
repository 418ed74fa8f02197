"""verify: does the warehouse hold exactly what the source database holds?

Reads the captured database's current rows, applies the job's own transforms in
batch (typing, derived columns, masking, tokenization, denormalization) and
compares the result with the warehouse tables. Prints counts of missing, extra
and different rows per table (never a value); exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import logging
import sys

from config import ConfigError, JobConfig, KafkaSource, KinesisSource, RedshiftTarget
from jobs.cli import add_config_arguments, config_error, load_job_config


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="verify.py",
        description=(
            "Compare the warehouse tables of a job with the source database: counts of "
            "missing, extra and different rows per table; exit code 1 on any difference."
        ),
        epilog=(
            "example:\n"
            "  SOURCE_PASSWORD=cdc WAREHOUSE_PASSWORD=warehouse STREAM_CDC_HMAC_KEY=... \\\n"
            "    ./spark-submit.sh jobs/verify.py --config conf/sports.yaml\n"
            "exit codes: 0 equal, 1 different, 2 bad config or unreachable database"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(
        parser,
        required=True,
        config_help="the job's config YAML",
        set_help="override a config key, as for the job (repeatable)",
    )
    return parser.parse_args(argv)


def check(config: JobConfig) -> None:
    """What verify needs beyond what the job needs, or a ConfigError saying so."""
    if not isinstance(config.target, RedshiftTarget):
        raise ConfigError("target.kind: verify compares a warehouse (kind redshift)")
    if not isinstance(config.source, KafkaSource | KinesisSource) or config.source.database is None:
        raise ConfigError(
            "source.database: verify reads the captured database; set host, port, user "
            "and password_env"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        config = load_job_config(args)
        check(config)
        return run(config)
    except ConfigError as exc:
        return config_error(exc)


def run(config: JobConfig) -> int:
    from runtime.verification import CannotConnectError, verify_job

    try:
        results = verify_job(config)
    except CannotConnectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for result in results:
        print(result.line())
    different = [r.table for r in results if not r.ok]
    print(f"verify: {'DIFFERENT: ' + ', '.join(different) if different else 'ok'}")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())

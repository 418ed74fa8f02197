"""stream-cdc: apply database changes from DMS landing files to a most-recent-view lake.

Run with no arguments to try it: an embedded demo generates DMS change files
shaped like the `cases` table of the seed article and processes them once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from config.load import ConfigError, load_config, redacted_yaml
from config.models import JobConfig

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "conf" / "demo.yaml"

log = logging.getLogger("stream_cdc")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stream_cdc.py",
        description=(
            "Apply inserts, updates and deletes captured from a database to a target table. "
            "Without --config, runs the embedded demo (generated DMS files -> Parquet lake)."
        ),
        epilog=(
            "examples:\n"
            "  ./spark-submit.sh jobs/stream_cdc.py                      # demo\n"
            "  ./spark-submit.sh jobs/stream_cdc.py --config conf/cases.yaml --once\n"
            "  ./spark-submit.sh jobs/stream_cdc.py --config conf/cases.yaml \\\n"
            "      --set target.path=/data/lake --print-config"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="job config YAML (default: the embedded demo)")
    parser.add_argument(
        "--once",
        action="store_true",
        help="process everything available, then exit (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set target.path=/tmp/lake (repeatable)",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective config (secrets redacted) and exit",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    demo = args.config is None
    try:
        config = load_config(args.config or DEMO_CONFIG, args.overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        print(redacted_yaml(config), end="")
        return 0
    if demo:
        _generate_demo_data(config)
    return _run(config, once=args.once or demo)


def _generate_demo_data(config: JobConfig) -> None:
    from config.models import FilesSource
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
    from runtime.metrics import render_summary
    from runtime.runner import run
    from runtime.session import spark_session
    from runtime.validate import check_expressions

    spark = spark_session(config.name)
    try:
        for index, table in enumerate(config.tables):
            check_expressions(spark, index, table)
        outcome = run(spark, config, once=once)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render_summary(outcome.tables, outcome.duration_s, config.quarantine.path))
    for error in outcome.errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if outcome.errors else 0


if __name__ == "__main__":
    sys.exit(main())

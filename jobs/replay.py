"""stream-cdc replay: re-ingest quarantined records through the job's decode -> apply path.

Selects quarantine entries (all, --table, --reason) or reads an operator's corrected file
(--file), decodes them as the stream does, applies them with each table's engine and its
sequence guard, and records what it resolved so that the next replay skips it (see
runtime/replay.py and docs/operations.md, "Replaying quarantined records"). Stop the job
first: one writer a table at a time. Exit codes: 0 every selected entry applied or stale,
1 some still rejected (they stay in the quarantine), 2 bad config or unreadable input,
3 a failure on the way (a target unreachable), with a one-line reason.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from config.load import ConfigError
from jobs.cli import add_config_arguments, config_error, load_job_config

REPO = Path(__file__).resolve().parent.parent
EXIT_BAD_INPUT = 2  # as runtime/replay_report.py's, which is imported lazily (Spark)
EXIT_FAILED = 3  # the replay failed on the way (a target unreachable): see the one-line reason


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.replay",
        description=(
            "Replay quarantined records through the job's own decoding and its engines:\n"
            "a replayed change older than what the target holds changes nothing (stale),\n"
            "and an entry a replay resolved is never replayed again. Stop the job first."
        ),
        epilog=(
            "exit codes: 0 every selected entry applied or stale,\n"
            "            1 some entries still rejected (they stay in the quarantine),\n"
            "            2 bad config, selection or unreadable input (nothing replayed)\n"
            "            3 the replay failed on the way (its one-line reason is printed;\n"
            "              what it committed is recorded, so running it again is safe)\n"
            "examples:\n"
            "  python -m jobs.replay --config conf/demo.yaml --dry-run\n"
            "  python -m jobs.replay --config conf/demo.yaml --table cases --reason 'not a valid'\n"
            "  python -m jobs.replay --config conf/demo.yaml --file fixed.jsonl --json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    add_config_arguments(
        parser,
        required=True,
        config_help="job config YAML, a file or s3:// key",
        set_help="override a config key as the job was run with it (repeatable)",
    )
    parser.add_argument("--table", help="only this table's entries")
    parser.add_argument("--reason", metavar="TEXT", help="only entries whose reason contains TEXT")
    parser.add_argument(
        "--file",
        metavar="CORRECTED.jsonl",
        help="replay these entries (quarantine JSON lines, raw_record corrected) instead",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="decode and report; apply and record nothing"
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        config = load_job_config(args)
    except ConfigError as exc:
        return config_error(exc, EXIT_BAD_INPUT)
    from runtime.glue import glue_session
    from runtime.replay import ReplayError, Selection, replay
    from runtime.session import spark_session

    selection = Selection(table=args.table, reason=args.reason, file=args.file)
    spark = glue_session() or spark_session(f"{config.name}-replay", config.aws)
    try:
        report = replay(spark, config, selection, dry_run=args.dry_run)
    except (ReplayError, ConfigError) as exc:
        return config_error(exc, EXIT_BAD_INPUT)
    except Exception as exc:  # a target or quarantine that cannot be reached: one line
        from runtime.errors import reason

        print(f"error: replay failed: {reason(exc)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        spark.stop()
    print(report.to_json() if args.json else report.to_text())
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())

"""What every entry point shares on its command line: `--config` and `--set KEY=VALUE`,
the config they load, and how a bad one is reported (one line, exit 2)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from config import JobConfig
from config.load import ConfigError, load_config

__all__ = ["EXIT_CONFIG", "add_config_arguments", "config_error", "load_job_config"]

EXIT_CONFIG = 2  # every entry point's code for a bad config: nothing was started


def add_config_arguments(
    parser: argparse.ArgumentParser, *, config_help: str, set_help: str, required: bool = False
) -> None:
    """`--config` (args.config; None when not required and not given) and the repeatable
    `--set KEY=VALUE` (args.overrides)."""
    parser.add_argument("--config", required=required, help=config_help)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=set_help,
    )


def load_job_config(args: argparse.Namespace, default: Path | None = None) -> JobConfig:
    """The config `--config` names (else `default`) with the `--set` overrides; raises
    config.ConfigError, to be reported with `config_error`."""
    path = args.config or default
    if path is None:
        raise ConfigError("--config: required (a job config YAML, a file or s3:// key)")
    return load_config(path, args.overrides)


def config_error(exc: Exception, code: int = EXIT_CONFIG) -> int:
    """Print `error: <reason>` on stderr; the exit code to return."""
    print(f"error: {exc}", file=sys.stderr)
    return code

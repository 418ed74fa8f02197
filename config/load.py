"""Read YAML, apply `--set` overrides, validate, and print safely."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from config.base import ConfigError
from config.job import JobConfig
from config.secrets import read_secrets
from config.sources import FilesSource, KafkaSource, KinesisSource
from config.targets import (
    CopyStaging,
    DataApiConnection,
    DeltaTarget,
    DriverConnection,
    IcebergTarget,
    LakeTarget,
    RedshiftTarget,
    S3Staging,
)

__all__ = ["ConfigError", "apply_overrides", "is_s3_url", "load_config", "redacted_yaml"]


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> JobConfig:
    """Load and validate a job config; raises ConfigError naming the faulty key.

    `path` is a local file or an `s3://bucket/key` (or `s3a://`) URL, read with boto3:
    a Glue job gets its config from S3. boto3 finds credentials and region as usual, and
    a local S3 server through `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`. The secrets the
    config names by environment variable are read here, once (config/secrets.py).
    """
    if is_s3_url(str(path)):
        name = str(path)
        text = _read_s3(name)
    else:
        name = str(Path(path))
        text = _read_file(Path(path))
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: the top level must be a mapping of keys")
    raw = apply_overrides(raw, overrides)
    try:
        config = JobConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(name, exc)) from None
    return config.with_secrets(read_secrets(config.secret_variables, os.environ))


def is_s3_url(path: str) -> bool:
    """`s3://` and `s3a://` name the same objects (EMRFS/Glue vs Hadoop's S3A)."""
    return path.startswith(_S3_SCHEMES)


_S3_SCHEMES = ("s3://", "s3a://")


def _read_file(file: Path) -> str:
    if not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    return file.read_text(encoding="utf-8")


def _read_s3(url: str) -> str:
    from aws import AWS_ERRORS, client, describe

    bucket, _, key = url.split("://", 1)[1].partition("/")
    if not bucket or not key:
        raise ConfigError(f"config {url}: expected s3://bucket/key.yaml")
    try:
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except AWS_ERRORS as exc:  # refused, missing, no credentials, endpoint unreachable
        raise ConfigError(f"config {url} cannot be read: {describe(exc)}") from None
    try:
        return bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {url}: not UTF-8 text ({exc.reason})") from None


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply `a.b.0.c=value` overrides; the value is parsed as a YAML scalar or list."""
    for item in overrides:
        dotted, sep, text = item.partition("=")
        if not sep or not dotted:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. target.path=/tmp/lake")
        value = yaml.safe_load(text) if text else ""
        _assign(raw, dotted.split("."), value, dotted)
    return raw


def _assign(node: Any, parts: list[str], value: Any, dotted: str) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        if not head.isdigit() or int(head) >= len(node):
            raise ConfigError(
                f"--set {dotted}: {head!r} is not an index of a {len(node)}-item list"
            )
        if rest:
            _assign(node[int(head)], rest, value, dotted)
        else:
            node[int(head)] = value
        return
    if not isinstance(node, dict):
        raise ConfigError(f"--set {dotted}: {head!r} is below a value, not a mapping")
    if rest:
        _assign(node.setdefault(head, {}), rest, value, dotted)
    else:
        node[head] = value


def _describe(name: str, exc: ValidationError) -> str:
    lines = [f"{name}: invalid config"]
    for error in exc.errors():
        key = ".".join(str(p) for p in _without_kind_tags(error["loc"])) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see docs/config.md)"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def _without_kind_tags(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """pydantic puts the union member chosen by `kind` in the path: users never wrote it."""
    kept: list[int | str] = []
    for part in loc:
        if kept and kept[-1] in _KINDS and part in _KINDS[str(kept[-1])]:
            continue
        if len(kept) > 1 and kept[-2] == "tables" and part in _ENTRY_KINDS:
            continue  # tables.N.table.x: the entry kind (a table or a pattern)
        kept.append(part)
    return tuple(kept)


def _kinds(*models: type[BaseModel]) -> set[str]:
    """The `kind` values of the members of a union (the tags pydantic puts in paths)."""
    return {str(v) for m in models for v in get_args(m.model_fields["kind"].annotation)}


_ENTRY_KINDS = {"table", "pattern"}
# Tagged unions, by the key that holds them.
_KINDS = {
    "source": _kinds(FilesSource, KafkaSource, KinesisSource),
    "target": _kinds(LakeTarget, DeltaTarget, IcebergTarget, RedshiftTarget),
    "staging": _kinds(CopyStaging, S3Staging),
    "connection": _kinds(DriverConnection, DataApiConnection),
}


def redacted_yaml(config: JobConfig) -> str:
    """The effective config as YAML, secrets replaced by '***'."""
    return yaml.safe_dump(_redact(config.model_dump()), sort_keys=False)


def _redact(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "***"
    if isinstance(value, Mapping):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value

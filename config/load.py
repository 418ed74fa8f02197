"""Read YAML, apply `--set` overrides, validate, and print safely."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from config.base import ConfigError
from config.models import JobConfig

__all__ = ["ConfigError", "apply_overrides", "is_s3_url", "load_config", "redacted_yaml"]


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> JobConfig:
    """Load and validate a job config; raises ConfigError naming the faulty key.

    `path` is a local file or an `s3://bucket/key` (or `s3a://`) URL, read with boto3:
    a Glue job gets its config from S3. boto3 finds credentials and region as usual, and
    a local S3 server through `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`.
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
        return JobConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(name, exc)) from None


def is_s3_url(path: str) -> bool:
    """`s3://` and `s3a://` name the same objects (EMRFS/Glue vs Hadoop's S3A)."""
    return path.startswith(_S3_SCHEMES)


_S3_SCHEMES = ("s3://", "s3a://")


def _read_file(file: Path) -> str:
    if not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    return file.read_text(encoding="utf-8")


def _read_s3(url: str) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = url.split("://", 1)[1].partition("/")
    if not bucket or not key:
        raise ConfigError(f"config {url}: expected s3://bucket/key.yaml")
    try:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "error")
        message = error.get("Message") or str(exc)
        raise ConfigError(f"config {url} cannot be read: {code}: {message}") from None
    except BotoCoreError as exc:  # no credentials, no region, endpoint unreachable
        raise ConfigError(f"config {url} cannot be read: {exc}") from None
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
            message = "unknown key (check the spelling; see the README's config reference)"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def _without_kind_tags(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """pydantic puts the union member chosen by `kind` in the path: users never wrote it."""
    if len(loc) > 1 and loc[0] in {"source", "target"} and loc[1] in _KINDS:
        return (loc[0], *loc[2:])
    return loc


_KINDS = {"files", "kafka", "lake", "redshift"}


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

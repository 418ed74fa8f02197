"""Read YAML, apply `--set` overrides, validate, and print safely."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from config.base import ConfigError
from config.models import JobConfig

__all__ = ["ConfigError", "apply_overrides", "load_config", "redacted_yaml"]


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> JobConfig:
    """Load and validate a job config; raises ConfigError naming the faulty key."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file not found: {file}")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of keys")
    raw = apply_overrides(raw, overrides)
    try:
        return JobConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(file, exc)) from None


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


def _describe(file: Path, exc: ValidationError) -> str:
    lines = [f"{file}: invalid config"]
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

"""Building blocks shared by the config models: strict models, identifiers, types."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TYPE = re.compile(
    r"^(string|boolean|tinyint|smallint|int|bigint|float|double|date|timestamp"
    r"|decimal\(\s*\d+\s*,\s*\d+\s*\))$"
)


class ConfigError(ValueError):
    """A config that cannot run; the message names the key and what was expected."""


def _identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(
            f"{value!r} is not a plain identifier "
            "(letters, digits and _, not starting with a digit)"
        )
    return value


def _spark_type(value: str) -> str:
    normalized = value.strip().lower()
    if not _TYPE.match(normalized):
        raise ValueError(
            f"unsupported type {value!r}; expected one of string, boolean, tinyint, smallint, "
            "int, bigint, float, double, date, timestamp, decimal(p,s)"
        )
    return re.sub(r"\s+", "", normalized)


_SOURCE_NAME = re.compile(r"^[A-Za-z0-9_$-]{1,128}$")


def _source_name(value: str) -> str:
    if not _SOURCE_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a source schema or table name "
            "(letters, digits, _, $ and -, at most 128)"
        )
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
# A schema or table name in the source database: it reaches file paths, topic names and
# the source's SQL (quoted), so quotes, dots, slashes and spaces are refused.
SourceName = Annotated[str, AfterValidator(_source_name)]
SparkType = Annotated[str, AfterValidator(_spark_type)]


class Strict(BaseModel):
    """Unknown keys fail: a typo is an error, not a silently ignored setting."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def kind_or(default: str) -> Callable[[Any], str]:
    """A union tag that defaults: `kind` may be omitted for the first member."""

    def tag(value: Any) -> str:
        if isinstance(value, dict):
            return str(value.get("kind", default))
        return str(getattr(value, "kind", default))

    return tag

"""Building blocks shared by the config models: strict models, identifiers, types."""

from __future__ import annotations

import re
from typing import Annotated

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


Identifier = Annotated[str, AfterValidator(_identifier)]
SparkType = Annotated[str, AfterValidator(_spark_type)]


class Strict(BaseModel):
    """Unknown keys fail: a typo is an error, not a silently ignored setting."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

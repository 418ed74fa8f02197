"""Secret values a config names by environment variable, read once when it is loaded.

A config file never holds a secret: it names the environment variable that does
(`target.password_env`, `source.database.password_env`, `privacy.hmac_key_env`).
`read_secrets` takes their values from the environment once; on Glue, which cannot set
environment variables, the job fills them from Secrets Manager instead (runtime/glue.py).
Values stay `SecretStr`: printing a config or a `Secrets` never shows them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from pydantic import SecretStr

from config.base import ConfigError

__all__ = ["Secrets", "read_secrets"]


@dataclass(frozen=True)
class Secrets:
    """Values by environment-variable name; a variable that was unset is absent."""

    values: Mapping[str, SecretStr] = field(default_factory=dict)

    def get(self, variable: str) -> SecretStr | None:
        return self.values.get(variable)

    def require(self, variable: str, key: str) -> SecretStr:
        """The value, or a ConfigError naming the config key and the variable."""
        value = self.values.get(variable)
        if value is None:
            raise ConfigError(f"{key}: environment variable {variable} is not set")
        return value

    def with_value(self, variable: str, value: str) -> Secrets:
        return replace(self, values={**self.values, variable: SecretStr(value)})


def read_secrets(variables: Iterable[str], environ: Mapping[str, str]) -> Secrets:
    """The named variables' values; an unset or empty variable is absent."""
    return Secrets({name: SecretStr(environ[name]) for name in variables if environ.get(name)})

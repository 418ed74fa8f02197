"""`privacy`: where the tokenization key comes from, how its text becomes key bytes, and
what is done to a value before it is tokenized."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, SecretStr

from config.base import ConfigError, Strict

__all__ = ["PrivacyConfig", "Tokenization", "is_email_like", "key_bytes"]


class PrivacyConfig(Strict):
    """Where the tokenization key comes from (never from a committed file), and how
    values are tokenized."""

    hmac_key_env: str = Field(
        default="STREAM_CDC_HMAC_KEY",
        min_length=1,
        description="environment variable holding the tokenization key; the job refuses to "
        "start if a table needs it and it is unset",
    )
    key_format: Literal["text", "hex", "base64"] = Field(
        default="text",
        description="how the key's text becomes the HMAC key: text (its UTF-8 bytes, what "
        "every earlier version did), hex or base64 (decoded); changing it changes every token",
    )
    empty_as_null: bool = Field(
        default=True,
        description="an empty or blank value tokenizes to NULL (false: to the token of the "
        "empty string, one token shared by every such row)",
    )
    normalize_emails: bool = Field(
        default=True,
        description="values of columns whose name contains 'email' are trimmed and "
        "lower-cased before hmac or sha256, so Ann@Example.COM and ann@example.com share "
        "a token",
    )


@dataclass(frozen=True)
class Tokenization:
    """What the tokenizing rules need: the key bytes, and how values are prepared."""

    key: bytes | None = field(default=None, repr=False)
    empty_as_null: bool = True
    normalize_emails: bool = True


def is_email_like(column: str) -> bool:
    """A column whose values `normalize_emails` prepares: its name contains 'email'."""
    return "email" in column.lower()


def key_bytes(secret: SecretStr, key_format: str, variable: str) -> bytes:
    """The key's bytes; an error names the variable and the format, never the value."""
    text = secret.get_secret_value()
    try:
        if key_format == "hex":
            raw = bytes.fromhex(text.strip())
        elif key_format == "base64":
            raw = base64.b64decode(text.strip(), validate=True)
        else:
            raw = text.encode("utf-8")
    except (ValueError, binascii.Error):
        raise ConfigError(
            f"privacy.key_format is {key_format}: the value of {variable} is not valid "
            f"{key_format} (e.g. `openssl rand -{key_format} 32`)"
        ) from None
    if not raw:
        raise ConfigError(f"{variable}: the tokenization key is empty")
    return raw

"""Tokenization as the job configures it: the key's format, empty values, e-mail case.

Through `canonical_changes`, the path every batch takes, on real Spark; the expected
tokens are computed with Python's hmac module.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from config import ConfigError, JobConfig, TableConfig, Tokenization
from config.load import load_config
from transforms.canonical import canonical_changes
from transforms.names import COMMIT_TS, OP, POS

CONF = Path(__file__).resolve().parents[2] / "conf"
KEY_TEXT = "a-text-key-as-written-in-the-secret"
CUSTOMER = TableConfig.model_validate(
    {
        "name": "customer",
        "keys": ["id"],
        "columns": [
            {"name": "id", "type": "int"},
            {"name": "name", "type": "string"},
            {"name": "email", "type": "string"},
        ],
        "protect": {"name": "hmac", "email": "hmac"},
    }
)
EMAILS = {
    1: "Ann@Example.COM",
    2: "ann@example.com",
    3: "  ann@example.com ",
    4: "",
    5: "   ",
    6: None,
    7: "bob@example.com",
}


def _token(key: bytes, value: str | None) -> str | None:
    return None if value is None else hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def _tokens(spark: SparkSession, tokens: Tokenization, column: str = "email") -> dict[int, str]:
    """{id: token of `column`} after the canonical transform of one insert per e-mail."""
    rows = [("I", i, email, email, f"p{i}") for i, email in EMAILS.items()]
    records = spark.createDataFrame(
        rows, f"{OP} string, id int, name string, email string, {POS} string"
    ).selectExpr("*", f"cast(null as timestamp) as {COMMIT_TS}")
    changes = records.transform(canonical_changes(CUSTOMER, tokens)).collect()
    return {row.id: row[column] for row in changes}


def _config(monkeypatch: pytest.MonkeyPatch, key: str, *overrides: str) -> JobConfig:
    monkeypatch.setenv("TEST_TOKEN_KEY", key)
    return load_config(CONF / "sports.yaml", ["privacy={hmac_key_env: TEST_TOKEN_KEY}", *overrides])


def test_by_default_emails_are_trimmed_and_lower_cased_and_empty_ones_stay_null(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = _tokens(spark, _config(monkeypatch, KEY_TEXT).tokenization())

    ann = _token(KEY_TEXT.encode(), "ann@example.com")
    assert tokens == {
        1: ann,
        2: ann,
        3: ann,
        4: None,
        5: None,
        6: None,
        7: _token(KEY_TEXT.encode(), "bob@example.com"),
    }


def test_a_column_that_is_no_email_is_tokenized_as_written(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = _tokens(spark, _config(monkeypatch, KEY_TEXT).tokenization(), column="name")

    assert names[1] == _token(KEY_TEXT.encode(), "Ann@Example.COM")
    assert names[3] == _token(KEY_TEXT.encode(), "  ann@example.com ")
    assert len({names[1], names[2], names[3]}) == 3
    assert names[4] is None and names[5] is None  # empty: NULL whatever the column


def test_switched_off_values_are_tokenized_as_written_like_earlier_versions(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(
        monkeypatch, KEY_TEXT, "privacy.empty_as_null=false", "privacy.normalize_emails=false"
    )

    tokens = _tokens(spark, config.tokenization())

    assert tokens == {i: _token(KEY_TEXT.encode(), email) for i, email in EMAILS.items()}
    assert tokens[4] is not None  # the empty string's one shared token


@pytest.mark.parametrize(
    ("key_format", "encode"),
    [
        ("text", lambda raw: raw.decode()),
        ("hex", lambda raw: raw.hex()),
        ("base64", lambda raw: base64.b64encode(raw).decode()),
    ],
)
def test_the_key_format_says_how_the_secret_becomes_key_bytes(
    spark: SparkSession,
    monkeypatch: pytest.MonkeyPatch,
    key_format: str,
    encode: Callable[[bytes], str],
) -> None:
    raw = b"0123456789abcdef0123456789abcdef" if key_format == "text" else bytes(range(32))
    secret = encode(raw)
    config = _config(monkeypatch, secret, f"privacy.key_format={key_format}")

    tokens = _tokens(spark, config.tokenization())

    assert tokens[7] == _token(raw, "bob@example.com")
    if key_format != "text":  # the same secret read as text is another key
        assert tokens[7] != _token(secret.encode(), "bob@example.com")


def test_the_default_key_format_keeps_the_tokens_of_a_hex_key_used_as_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`openssl rand -hex 32` keys of existing deployments were used as their 64 characters."""
    secret = bytes(range(32)).hex()

    assert _config(monkeypatch, secret).tokenization().key == secret.encode()


@pytest.mark.parametrize(("key_format", "secret"), [("hex", "not-hex-zz"), ("base64", "@@@")])
def test_a_key_that_does_not_decode_fails_naming_the_variable_never_the_value(
    monkeypatch: pytest.MonkeyPatch, key_format: str, secret: str
) -> None:
    config = _config(monkeypatch, secret, f"privacy.key_format={key_format}")

    with pytest.raises(ConfigError, match=f"TEST_TOKEN_KEY is not valid {key_format}") as raised:
        config.tokenization()

    assert secret not in str(raised.value)


def test_changed_defaults_are_announced_until_the_config_chooses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relying = _config(monkeypatch, KEY_TEXT).privacy_notices()
    assert len(relying) == 2
    assert "privacy.empty_as_null is not set" in relying[0]
    assert "privacy.normalize_emails is not set: column(s) email" in relying[1]

    chosen = _config(
        monkeypatch, KEY_TEXT, "privacy.empty_as_null=true", "privacy.normalize_emails=true"
    )
    assert chosen.privacy_notices() == []
    masking_only = _config(monkeypatch, KEY_TEXT, "tables.1.protect={phone: mask}")
    assert masking_only.privacy_notices() == []

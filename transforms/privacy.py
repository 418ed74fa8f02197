"""Mask and tokenize PII columns on the JVM, with no Python UDF on the hot path.

Spark 3.5 has no HMAC function, so HMAC-SHA256 is built from `sha2` over binaries
(RFC 2104): H((K' xor opad) || H((K' xor ipad) || m)), with K' the key hashed if longer
than the 64-byte block, then zero-padded to it. Both padded keys are computed once here.

The padded keys reveal the key (xor with a constant). Passed as literals
(`tokenize_hmac`) they show in `explain()`, the Spark UI SQL tab, event logs and
analysis errors that print the plan. `protect` instead carries them in a broadcast
one-row relation joined to the data: plans and errors show only column names, for about
0.1 s more per query (the broadcast) and the same per-row cost; a Python UDF would hide
the key too but costs 3-6x the JVM version. Get the key from an environment variable or
AWS Secrets Manager, never from a committed config, and never log it.
"""

import functools
import hashlib
from collections.abc import Callable, Collection, Mapping
from typing import Literal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

__all__ = ["Rule", "mask_digits", "protect", "tokenize_hmac", "tokenize_sha256"]

Rule = Literal["mask", "hmac", "sha256"]

_BLOCK_SIZE = 64  # SHA-256 block size in bytes
_INNER_PAD = "__hmac_inner_pad"
_OUTER_PAD = "__hmac_outer_pad"


def mask_digits(column: Column) -> Column:
    """Every decimal digit (of any script) becomes `*`; the value keeps its shape.

    `+1-296-605-8486` -> `+*-***-***-****`; NULL stays NULL.
    """
    return F.regexp_replace(column.cast("string"), r"\p{Nd}", "*")


def tokenize_sha256(column: Column) -> Column:
    """Unkeyed SHA-256 (lower-case hex) of the UTF-8 text: the seed pipeline's token.

    Weak: anyone can hash a list of known e-mail addresses or every phone number and
    look the tokens up. Use only when explicitly opted in; prefer `tokenize_hmac`.
    """
    return F.sha2(column.cast("string"), 256)


def tokenize_hmac(column: Column, key: str | bytes) -> Column:
    """HMAC-SHA256 (lower-case hex) of the UTF-8 text under `key`; NULL stays NULL.

    Equal values give equal tokens (joins and counts still work), and without the key
    nobody can compute a token from a guessed value. The padded keys are literals of
    the returned expression, so the key can be recovered from `explain()` output or
    from an error that prints the plan: use `protect`, which keeps them out of plans.
    """
    inner, outer = _padded_keys(key)
    return _hmac_sha256(column, F.lit(inner), F.lit(outer))


def protect(
    rules: Mapping[str, Rule],
    key: str | bytes | None,
    *,
    empty_as_null: bool = False,
    normalized: Collection[str] = (),
) -> Callable[[DataFrame], DataFrame]:
    """Replace each named column by its masked or tokenized value, in place.

    `{"phone_number": "mask", "email_address": "hmac"}` masks the phone and tokenizes
    the e-mail under `key` (text: its UTF-8 bytes). Errors name the column, never the
    key. The key travels in a broadcast one-row relation, so plan strings show column
    names, not key bytes. Before `hmac` and `sha256`: the `normalized` columns are
    trimmed and lower-cased, and with `empty_as_null` an empty or blank value becomes
    NULL instead of the token of the empty string (one token for every such row).
    """
    _check_rules(rules, key)

    def transform(df: DataFrame) -> DataFrame:
        missing = sorted(set(rules) - set(df.columns))
        if missing:
            raise ValueError(f"protect: columns {missing} are not in the data")
        hmac_columns = [name for name, rule in rules.items() if rule == "hmac"]
        if hmac_columns and key is not None:
            inner, outer = _padded_keys(key)
            pads = df.sparkSession.createDataFrame(
                [(inner, outer)], f"{_INNER_PAD} binary, {_OUTER_PAD} binary"
            )
            source = df.crossJoin(F.broadcast(pads))
        else:
            source = df
        prepare = functools.partial(
            _prepared, empty_as_null=empty_as_null, normalized=frozenset(normalized)
        )
        protected = [
            _protected(name, rules[name], prepare).alias(name)
            if name in rules
            else F.col(f"`{name}`")
            for name in df.columns
        ]
        return source.select(*protected)

    return transform


def _check_rules(rules: Mapping[str, Rule], key: str | bytes | None) -> None:
    for name, rule in rules.items():
        if rule not in ("mask", "hmac", "sha256"):
            raise ValueError(f"column {name}: unknown protection rule {rule!r}")
        if rule == "hmac" and not key:
            raise ValueError(f"column {name}: rule 'hmac' needs a non-empty key")


def _prepared(name: str, *, empty_as_null: bool, normalized: frozenset[str]) -> Column:
    """The value a token is computed from: trimmed and lower-cased if `normalized`, NULL
    if blank and `empty_as_null`."""
    column = F.col(f"`{name}`").cast("string")
    if name in normalized:
        column = F.lower(F.trim(column))
    if empty_as_null:
        column = F.when(F.trim(column) != "", column)
    return column


def _protected(name: str, rule: Rule, prepare: Callable[[str], Column]) -> Column:
    if rule == "mask":
        return mask_digits(F.col(f"`{name}`"))
    column = prepare(name)
    if rule == "sha256":
        return tokenize_sha256(column)
    return _hmac_sha256(column, F.col(_INNER_PAD), F.col(_OUTER_PAD))


def _padded_keys(key: str | bytes) -> tuple[bytes, bytes]:
    """(K' xor ipad, K' xor opad) of RFC 2104 for SHA-256; a text key is its UTF-8 bytes."""
    block = key.encode("utf-8") if isinstance(key, str) else key
    if len(block) > _BLOCK_SIZE:
        block = hashlib.sha256(block).digest()
    block = block.ljust(_BLOCK_SIZE, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def _hmac_sha256(column: Column, inner_pad: Column, outer_pad: Column) -> Column:
    message = column.cast("string").cast("binary")  # string -> binary is UTF-8
    inner_digest = F.unhex(F.sha2(F.concat(inner_pad, message), 256))
    return F.sha2(F.concat(outer_pad, inner_digest), 256)

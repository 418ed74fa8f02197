"""privacy: digits masked, values tokenized by keyed HMAC-SHA256 on the JVM, key out of plans."""

import contextlib
import hashlib
import hmac
import io
import random
from collections.abc import Sequence
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from transforms.privacy import mask_digits, protect, tokenize_hmac, tokenize_sha256

KEY = "s3cr3t-hmac-key-for-tests"
KEYS = {
    "short": "k",
    "typical": KEY,
    "block_size": "b" * 64,
    "one_over_block": "c" * 65,
    "long": "L0ng-" * 40,
    "unicode": "clé-秘密-🔑",
}
CUSTOMER = "customer_id int, name string, email_address string, phone_number string"


def _python_hmac(key: str, value: str | None) -> str | None:
    if value is None:
        return None
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def _messages() -> list[str]:
    rng = random.Random(20240816)
    alphabets = [
        "abcdefghijklmnopqrstuvwxyz@.+-0123456789",
        "éèàüßçñøÅ",
        "中文字符テスト한국어",
        "😀🔑🚀\u200b\u00a0",
        "\t\n\"'\\,;\x00",
    ]
    values = ["", " ", "a", "teresa.stein@example.com", "x" * 55, "y" * 56, "z" * 64, "w" * 1000]
    for _ in range(200):
        alphabet = "".join(rng.sample(alphabets, rng.randint(1, len(alphabets))))
        values.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120))))
    return values


def _plan(df: DataFrame) -> str:
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        df.explain(mode="extended")
        df.explain(mode="formatted")
    return text.getvalue()


def _secret_forms(key: str) -> list[str]:
    """The key as text, as hex, and each RFC 2104 padded key as hex (both cases)."""
    raw = key.encode()
    block = raw.ljust(64, b"\0")
    forms = [key, raw.hex()]
    for pad in (0x36, 0x5C):
        forms.append(bytes(b ^ pad for b in block).hex())
    return forms + [f.upper() for f in forms[1:]]


def _customers(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            (222, "Teresa Stein", "teresa@example.com", "+1-296-605-8486"),
            (223, "Caleb Houston", "caleb@example.com", "087-237-9316x2670"),
            (224, "Raymond Turner", None, None),
        ],
        CUSTOMER,
    )


def test_mask_digits_replaces_every_digit_and_keeps_the_rest(spark: SparkSession) -> None:
    phones = spark.createDataFrame(
        [
            ("+1-296-605-8486",),
            ("087-237-9316x2670",),
            ("+1-786-503-2802\u00d72357",),  # the seed data has a multiplication sign
            ("(\u0660\u0661\u0662) \uff13\uff14\uff15",),  # Arabic-Indic, full-width digits
            ("no digits",),
            ("",),
            (None,),
        ],
        "phone string",
    )

    expected = spark.createDataFrame(
        [
            ("+*-***-***-****",),
            ("***-***-****x****",),
            ("+*-***-***-****\u00d7****",),
            ("(***) ***",),
            ("no digits",),
            ("",),
            (None,),
        ],
        "phone string",
    )
    assert_df_equality(phones.select(mask_digits(F.col("phone")).alias("phone")), expected)


@pytest.mark.parametrize("key_name", sorted(KEYS))
def test_tokenize_hmac_equals_python_hmac_sha256(spark: SparkSession, key_name: str) -> None:
    key = KEYS[key_name]
    values: list[str | None] = [*_messages(), None]
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")

    tokens = df.select("i", tokenize_hmac(F.col("v"), key).alias("t")).collect()

    assert {row.i: row.t for row in tokens} == {
        i: _python_hmac(key, v) for i, v in enumerate(values)
    }


def test_protect_hmac_equals_python_hmac_sha256(spark: SparkSession) -> None:
    values: list[str | None] = [*_messages(), None]
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")

    for key in (KEYS["short"], KEYS["long"], KEYS["unicode"]):
        tokens = df.transform(protect({"v": "hmac"}, key)).collect()

        assert {row.i: row.v for row in tokens} == {
            i: _python_hmac(key, v) for i, v in enumerate(values)
        }


def test_tokenize_hmac_depends_on_the_key(spark: SparkSession) -> None:
    df = spark.createDataFrame([("teresa@example.com",)], "email string")

    one, other = df.select(
        tokenize_hmac(F.col("email"), "key-one"), tokenize_hmac(F.col("email"), "key-two")
    ).first() or (None, None)

    assert one is not None and other is not None and one != other


def test_tokenize_sha256_is_the_seed_unkeyed_hex_digest(spark: SparkSession) -> None:
    values = ["teresa@example.com", "", "clé 🔑", None]
    df = spark.createDataFrame([(v,) for v in values], "email string")

    tokens = [row.t for row in df.select(tokenize_sha256(F.col("email")).alias("t")).collect()]

    assert tokens == [None if v is None else hashlib.sha256(v.encode()).hexdigest() for v in values]


def test_protect_applies_each_rule_to_its_column_and_keeps_the_others(
    spark: SparkSession,
) -> None:
    protected = _customers(spark).transform(
        protect({"email_address": "hmac", "phone_number": "mask"}, KEY)
    )

    expected = spark.createDataFrame(
        [
            (222, "Teresa Stein", _python_hmac(KEY, "teresa@example.com"), "+*-***-***-****"),
            (223, "Caleb Houston", _python_hmac(KEY, "caleb@example.com"), "***-***-****x****"),
            (224, "Raymond Turner", None, None),
        ],
        CUSTOMER,
    )
    assert_df_equality(protected, expected, ignore_row_order=True)


def test_protect_sha256_and_mask_need_no_key(spark: SparkSession) -> None:
    protected = _customers(spark).transform(
        protect({"email_address": "sha256", "phone_number": "mask"}, None)
    )

    assert protected.columns == ["customer_id", "name", "email_address", "phone_number"]
    first = protected.where("customer_id = 222").first()
    assert first is not None
    assert first.email_address == hashlib.sha256(b"teresa@example.com").hexdigest()


@pytest.mark.parametrize("key", [None, ""])
def test_protect_hmac_without_key_raises_naming_the_column(key: str | None) -> None:
    with pytest.raises(ValueError, match="column email_address: rule 'hmac' needs a non-empty key"):
        protect({"phone_number": "mask", "email_address": "hmac"}, key)


def test_protect_unknown_rule_raises_naming_the_column() -> None:
    with pytest.raises(ValueError, match="column phone_number: unknown protection rule 'blur'"):
        protect({"phone_number": "blur"}, KEY)  # type: ignore[dict-item]


def test_protect_missing_column_raises_naming_it_never_the_key(spark: SparkSession) -> None:
    with pytest.raises(ValueError, match=r"columns \['email'\] are not in the data") as raised:
        _customers(spark).transform(protect({"email": "hmac"}, KEY))

    assert all(form not in str(raised.value) for form in _secret_forms(KEY))


def test_protect_keeps_the_key_out_of_the_query_plan(spark: SparkSession) -> None:
    protected = _customers(spark).transform(protect({"email_address": "hmac"}, KEY))

    plan = _plan(protected)

    assert "email_address" in plan
    assert [form for form in _secret_forms(KEY) if form in plan] == []


def test_protect_keeps_the_key_out_of_analysis_errors(spark: SparkSession) -> None:
    protected = _customers(spark).transform(protect({"email_address": "hmac"}, KEY))

    with pytest.raises(AnalysisException) as raised:
        protected.select("no_such_column").collect()

    assert [form for form in _secret_forms(KEY) if form in str(raised.value)] == []


def test_tokenize_hmac_literal_shows_the_padded_key_in_the_plan(spark: SparkSession) -> None:
    """The documented limit of the Column helper: why `protect` carries the key in a relation."""
    tokenized = _customers(spark).select(tokenize_hmac(F.col("email_address"), KEY))

    plan = _plan(tokenized)

    assert KEY not in plan
    assert any(form in plan for form in _secret_forms(KEY)[2:])


def test_protect_works_on_a_stream(spark: SparkSession, tmp_path: Path) -> None:
    landing = tmp_path / "in"
    landing.mkdir()
    (landing / "part-0.txt").write_text("teresa@example.com\ncaleb@example.com\n")
    stream = spark.readStream.text(str(landing)).withColumnRenamed("value", "email")

    query = (
        stream.transform(protect({"email": "hmac"}, KEY))
        .writeStream.format("memory")
        .queryName("protected_emails")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(120)

    tokens: Sequence[str] = sorted(r.email for r in spark.table("protected_emails").collect())
    expected = sorted(
        _python_hmac(KEY, v) or "" for v in ("teresa@example.com", "caleb@example.com")
    )
    assert tokens == expected

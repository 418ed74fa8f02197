"""Pure DataFrame -> DataFrame functions: decode, type, derive, sequence, collapse.

Nothing here touches storage; every function is curried for `df.transform`.
"""

from transforms.canonical import canonical_changes, split_rejected
from transforms.coerce import coerce_types
from transforms.debezium_json import decode_debezium_json
from transforms.derive import add_derived
from transforms.dms_csv import decode_dms_csv
from transforms.dms_json import decode_dms_json
from transforms.dms_parquet import decode_dms_parquet
from transforms.ordering import latest_per_key, newer_than
from transforms.privacy import mask_digits, protect, tokenize_hmac, tokenize_sha256
from transforms.sequence import encode_sequence

__all__ = [
    "add_derived",
    "canonical_changes",
    "coerce_types",
    "decode_debezium_json",
    "decode_dms_csv",
    "decode_dms_json",
    "decode_dms_parquet",
    "encode_sequence",
    "latest_per_key",
    "mask_digits",
    "newer_than",
    "protect",
    "split_rejected",
    "tokenize_hmac",
    "tokenize_sha256",
]

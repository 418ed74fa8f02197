"""Pure DataFrame -> DataFrame functions: decode, type, derive, sequence, collapse.

Nothing here touches storage; every function is curried for `df.transform`.
"""

from transforms.canonical import canonical_changes, split_rejected
from transforms.coerce import coerce_types
from transforms.derive import add_derived
from transforms.dms_csv import decode_dms_csv
from transforms.dms_json import decode_dms_json
from transforms.dms_parquet import decode_dms_parquet
from transforms.ordering import latest_per_key, newer_than
from transforms.sequence import encode_sequence

__all__ = [
    "add_derived",
    "canonical_changes",
    "coerce_types",
    "decode_dms_csv",
    "decode_dms_json",
    "decode_dms_parquet",
    "encode_sequence",
    "latest_per_key",
    "newer_than",
    "split_rejected",
]

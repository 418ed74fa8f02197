"""Names of the bookkeeping columns shared by transforms and sinks."""

OP = "_op"  # I, U or D once decoded; raw envelope value before
SEQ = "_seq"  # encoded sequence_by value; NULL when the change carries none
POS = "_pos"  # transport position: total order of arrival, tie-break of _seq
COMMIT_TS = "_commit_ts"  # source commit time, for latency
ERROR = "_error"  # why a record cannot be applied; NULL when it can
RAW = "_raw"  # the record as received, kept only for quarantine
SOURCE_FILE = "_source_file"  # where the record came from, kept only for quarantine
RAW_KEY = "_raw_key"  # a Kafka message's key as received, kept only for quarantine

# Bookkeeping of the targets' state (key tables, events tables) and of one batch's decision.
DELETED = "_deleted"  # the key's last change was a delete: a tombstone
DELETED_AT = "_deleted_at"  # when the job wrote the tombstone (its clock): its age
ACCEPTED = "__accepted"  # the change is newer than what the target holds for its key
HELD = "__held"  # prefix of what the target holds for a key, beside the batch's change

# The source table a raw record belongs to (transforms/route.py).
SOURCE_SCHEMA = "_schema"
SOURCE_TABLE = "_table"
# The replicated table a record (or a count) belongs to, where one frame holds many tables'.
REPLICA = "_replica"

# Input columns that sources attach to every raw record.
FILE = "_file"
BLOCK = "_block"
KINESIS_POSITION = "_kpos"  # a Kinesis record's place: shard sequence number, sortable

# Raw operation values after decoding, before validation.
OP_LOAD = "L"  # full-load row: applied as an upsert
OP_CONTROL = "C"  # DMS control record (create-table, awsdms_* tables): skipped, counted
OP_DDL = "A"  # DMS table-alter record of this table (add-column...): skipped, counted
OP_OTHER_TABLE = "T"  # a record of another table sharing the stream: skipped, counted
OP_TRUNCATE = "X"  # a truncate event: rejected with its reason, never silently skipped
APPLIED_OPS = ("I", "U", "D")
SKIPPED_OPS = (OP_CONTROL, OP_DDL, OP_OTHER_TABLE)

# Lower than any printable character, so concatenated fields sort like tuples.
SEP = "\x1f"

BOOKKEEPING = (OP, SEQ, POS, COMMIT_TS)

"""What both Delta engines share: a published table, a state table under `_cdc/`, and
the opening steps of a batch.

The published table is what users read (the latest state, or the history of SCD type 2);
the state table is what the engine needs to judge a change (per-key tombstones, or
every event applied). A batch opens the same way for both, and as on Iceberg (the
sequence is sinks/table_pair.py's; the Delta steps are here):

1. create both tables, or add the columns the batch brings (a commit of its own, before
   the MERGEs), and register the published table in the catalog when its columns change;
2. read the writer's last committed batch from the state table's log: the state table's
   MERGE is the batch's last commit, so a batch id not above it was applied whole
   (a replay writes nothing);
3. read the state table, restricted to the batch's key range. One writer per table: the
   state table's MERGE is a batch's last commit, so its latest version is the one the
   batch started from, in the batch and in its re-run after a crash between its two
   commits, which judges the changes exactly as the first run did.

What one engine committed it remembers: after its first batch it neither reads the log
for the writer's last batch (it made that commit) nor counts the published table's rows
(it adds what each batch's accepted changes add and remove). A batch that fails makes
it forget both, so the next one reads them from the tables again.

The subclass then derives what to write and makes its two MERGEs under
`txnAppId`/`txnVersion` (see log.py).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from sinks.catalog import DeltaCatalog
from sinks.delta.log import add_missing_columns, idempotent, log_state, table_version
from sinks.memory import Committed
from sinks.retention import Expiry
from sinks.storage import Storage
from sinks.table_pair import TablePair

__all__ = ["DeltaTables"]

_MAX_RECORDS_PER_FILE = "spark.sql.files.maxRecordsPerFile"


class DeltaTables(TablePair):
    """The published table at `path` and its state table `<path>/<state_dir>/<state_name>`."""

    state_name: ClassVar[str]

    def __init__(
        self,
        spark: SparkSession,
        path: str,
        *,
        keys: Sequence[str],
        partition_by: Sequence[str] = (),
        state_dir: str = "_cdc",
        max_records_per_file: int = 1_000_000,
        catalog: DeltaCatalog | None = None,
        expiry: Expiry | None = None,
    ) -> None:
        self.path = Storage(spark, path).root
        self.location = self.path
        self.state_path = f"{self.path}/{state_dir}/{self.state_name}"
        self._keys = list(keys)
        self._parts = list(partition_by)
        self._max_records = max_records_per_file
        self._catalog = catalog
        self._expiry = expiry or Expiry()  # how long tombstones / closed versions count
        self._columns: set[str] = set()  # payload columns (name:type) both tables are known to have
        self._memory = Committed()  # what this engine committed (sinks/memory.py)

    def recover(self) -> None:
        """Nothing to do: Delta commits are atomic (files of a commit that never happened
        are invisible until VACUUM removes them), and a batch that died between its two
        commits is finished by Spark's re-run of it (see the module docstring)."""

    @abstractmethod
    def _schemas(self, changes: DataFrame, payload: list[str]) -> tuple[StructType, StructType]:
        """The columns the published table and the state table must have for this batch."""

    @abstractmethod
    def _state_partitions(self) -> list[str]:
        """How the state table is partitioned."""

    def _last_committed(self, spark: SparkSession, writer_id: str) -> int:
        return log_state(spark, self.state_path, writer_id).last_batch

    def _state_rows(self, spark: SparkSession) -> DataFrame:
        """The state table at its current version, read by that version. Read as the bare
        table, it would tie the batch's cached decision to the table the batch's last
        MERGE writes, and after a MERGE Delta has Spark re-plan every cached query that
        reads its target (`recacheByPlan`): a Spark job over Delta's log for a decision
        nobody reads again (one job and 6% of a batch on the 1M-row benchmark)."""
        version = table_version(spark, self.state_path)
        return spark.read.format("delta").option("versionAsOf", version).load(self.state_path)

    def _count(self, spark: SparkSession) -> int:
        return self.rows(spark)

    def _ensure_tables(self, changes: DataFrame, payload: list[str]) -> None:
        """Create both tables, and add to both the columns a batch brings."""
        wanted = {f"{c.lower()}:{changes.schema[c].dataType.simpleString()}" for c in payload}
        if wanted <= self._columns:
            return
        spark = changes.sparkSession
        published, state = self._schemas(changes, payload)
        created = add_missing_columns(spark, self.path, published, self._parts)
        created &= add_missing_columns(spark, self.state_path, state, self._state_partitions())
        if created:
            self._memory.created()
        if self._catalog is not None:  # the table's columns, not only the batch's
            columns = spark.read.format("delta").load(self.path).schema
            self._catalog.register_delta(columns, self._parts)
        self._columns |= wanted

    def _write_settings(self, writer_id: str, batch_id: int) -> dict[str, str]:
        """Session settings of the batch's MERGEs: idempotent, files of bounded size."""
        return {
            **idempotent(writer_id, batch_id),
            _MAX_RECORDS_PER_FILE: str(self._max_records),
        }

    def rows(self, spark: SparkSession) -> int:
        """Rows of the published table; Delta answers from the files' statistics."""
        return spark.read.format("delta").load(self.path).count()

"""What an engine that commits to a table format remembers between its batches.

After its first batch such an engine made every commit of its writer itself: it needs
neither the table's log for the writer's last batch nor a count of the published table's
rows (each batch's accepted changes add and remove a known number). An engine that created
its tables also knows they hold nothing until its first batch is applied: that batch has
nothing to guard against, and a latest-state engine writes it without a MERGE
(sinks/table_pair.py). A batch
that fails makes it forget all of it, so the next one reads the tables again. Used by the
Delta and Iceberg engines (sinks/delta/table.py, sinks/iceberg/tables.py).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Committed"]


class Committed:
    """Each writer's last batch this engine applied, and the published table's rows."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}  # writer -> last batch this engine applied
        self._rows: int | None = None  # rows of the published table, once counted
        self._empty = False  # tables this engine created, no batch applied since

    def created(self) -> None:
        """The engine has just created its tables: they hold no row and no state."""
        self._empty = True
        self._rows = 0

    @property
    def empty(self) -> bool:
        """Whether the tables hold nothing: created by this engine, nothing applied since."""
        return self._empty

    def knows(self, writer_id: str) -> bool:
        """Whether this engine applied a batch of the writer since it last forgot."""
        return writer_id in self._last

    def last_batch(self, writer_id: str, read: Callable[[], int]) -> int:
        """The writer's last applied batch: remembered, else `read` from the table."""
        last = self._last.get(writer_id)
        return read() if last is None else last

    def rows(self, count: Callable[[], int]) -> int:
        """The published table's rows: kept, else `count`ed (once)."""
        if self._rows is None:
            self._rows = count()
        return self._rows

    def applied(
        self, writer_id: str, batch_id: int, net_rows: int, count: Callable[[], int]
    ) -> int:
        """Remember a batch applied whole; the published table's rows after it."""
        self._last[writer_id] = batch_id
        self._empty = False
        if self._rows is None:
            return self.rows(count)
        self._rows += net_rows
        return self._rows

    def recount(self) -> None:
        """Count the rows again at the next batch (a table whose rows no change predicts)."""
        self._rows = None

    def forget(self) -> None:
        """After a failed batch: what the tables hold is read from them again."""
        self._last.clear()
        self._rows = None
        self._empty = False

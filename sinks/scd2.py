"""SCD type 2: every change of a key becomes a version; the rules, as SQL both engines run.

Tables of one SCD2 target table:
  history   keys, payload, valid_from, valid_to, is_current, _seq, _pos: one row per
            inserted or updated version; deletes close the version before them.
  events    keys, _seq, _pos, _deleted, _commit_ts: every change ever applied, deletes
            included (bookkeeping, hidden from readers), unique by (keys, _pos).

A key's changes are ordered by (`_seq`, `_pos`), like the sequence guard of type 1. A
change without a sequence value takes the newest one its key had when it arrived
(by `_pos`): in arrival order, it follows what came before it.

Per batch, for the keys it touches:
1. `new_events`: the batch's changes not already in `events` (a replayed change is one
   the table holds: it adds nothing), with their sequence value filled in;
2. `timeline`: the old and new events of those keys in order; each version's
   `valid_to` is the commit time of the next change of its key (NULL for the last)
   and it is current when it is the last change and not a delete.
Then the engine inserts the new versions, updates valid_to/is_current of the key's
other versions from the timeline, and appends the new events. Out-of-order arrival
only inserts a version in the middle of a key's history: the timeline re-derives
every interval around it.

Valid Spark SQL, PostgreSQL and Amazon Redshift SQL: no WINDOW clause, no row
comparisons; the bookkeeping strings compare bytewise (PostgreSQL: `COLLATE "C"`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from transforms.names import COMMIT_TS, DELETED, OP, POS, SEQ

__all__ = ["HISTORY_COLUMNS", "IS_CURRENT", "VALID_FROM", "VALID_TO", "Scd2Sql"]

VALID_FROM, VALID_TO, IS_CURRENT = "valid_from", "valid_to", "is_current"
HISTORY_COLUMNS = (VALID_FROM, VALID_TO, IS_CURRENT, SEQ, POS)
EVENT_COLUMNS = (SEQ, POS, DELETED, COMMIT_TS)


@dataclass(frozen=True)
class Scd2Sql:
    """The two SELECTs of an SCD2 batch for one table, in one SQL flavour."""

    keys: Sequence[str]
    payload: Sequence[str]  # business columns, keys included
    quote: Callable[[str], str]
    collate: str = ""  # appended to bookkeeping strings in ORDER BY / MAX

    def _q(self, name: str, alias: str = "") -> str:
        return f"{alias}.{self.quote(name)}" if alias else self.quote(name)

    def _same_keys(self, left: str, right: str) -> str:
        return " AND ".join(f"{self._q(k, left)} = {self._q(k, right)}" for k in self.keys)

    def _by_key(self, alias: str) -> str:
        return ", ".join(self._q(k, alias) for k in self.keys)

    def new_events(self, batch: str, events: str) -> str:
        """Columns: payload, `_seq` (filled), `_pos`, `_deleted`, `_commit_ts`."""
        seq, pos = self._q(SEQ, "b"), self._q(POS, "b")
        earlier = (
            f"MAX({seq}{self.collate}) OVER (PARTITION BY {self._by_key('b')} ORDER BY "
            f"{pos}{self.collate} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
        )
        keys = ", ".join(self.quote(k) for k in self.keys)
        return (
            f"SELECT {', '.join(self._q(c, 'b') for c in self.payload)}, "
            f"COALESCE({seq}, {earlier}, h.{self.quote('__held')}, '') AS {self.quote(SEQ)}, "
            f"{pos} AS {self.quote(POS)}, "
            f"({self._q(OP, 'b')} = 'D') AS {self.quote(DELETED)}, "
            f"{self._q(COMMIT_TS, 'b')} AS {self.quote(COMMIT_TS)} "
            f"FROM {batch} b LEFT JOIN ("
            f"SELECT {keys}, MAX({self.quote(SEQ)}{self.collate}) AS {self.quote('__held')} "
            f"FROM {events} GROUP BY {keys}) h ON {self._same_keys('b', 'h')} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {events} e WHERE {self._same_keys('e', 'b')} "
            f"AND {self._q(POS, 'e')} = {pos})"
        )

    def timeline(self, new_events: str, events: str) -> str:
        """Every event of the touched keys with its version's valid_to and is_current."""
        cols = [*self.keys, *EVENT_COLUMNS]
        keys = ", ".join(self.quote(k) for k in self.keys)
        order = (
            f"PARTITION BY {keys} ORDER BY {self.quote(SEQ)}{self.collate}, "
            f"{self.quote(POS)}{self.collate}"
        )
        old = (
            f"SELECT {', '.join(self._q(c, 'e') for c in cols)} FROM {events} e "
            f"JOIN (SELECT DISTINCT {keys} FROM {new_events}) n ON {self._same_keys('e', 'n')}"
        )
        new = f"SELECT {', '.join(self.quote(c) for c in cols)} FROM {new_events}"
        return (
            f"SELECT {', '.join(self.quote(c) for c in cols)}, "
            f"LEAD({self.quote(COMMIT_TS)}) OVER ({order}) AS {self.quote(VALID_TO)}, "
            f"(LEAD({self.quote(POS)}) OVER ({order}) IS NULL AND NOT {self.quote(DELETED)}) "
            f"AS {self.quote(IS_CURRENT)} "
            f"FROM ({old} UNION ALL {new}) x"
        )

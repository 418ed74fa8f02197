"""What a replay did, per table: counts and reasons, never row values (jobs/replay.py)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

__all__ = ["EXIT_BAD_INPUT", "EXIT_OK", "EXIT_REJECTED", "ReplayReport", "TableReplay"]

EXIT_OK = 0  # every selected entry applied, or stale (older than the target)
EXIT_REJECTED = 1  # some entries were rejected again: they stay in the quarantine
EXIT_BAD_INPUT = 2  # a bad config, selection or unreadable input: nothing was replayed


@dataclass
class TableReplay:
    """One table's part of a replay."""

    table: str
    selected: int = 0  # entries replayed now
    already_replayed: int = 0  # matching entries an earlier replay resolved: skipped
    decoded: dict[str, int] = field(default_factory=dict)  # changes by op (L, I, U, D)
    upserts: int = 0  # accepted by the sequence guard
    deletes: int = 0
    stale: int = 0  # older than what the target holds, or than another replayed change
    committed_before: bool = False  # this same replay was applied before (a re-run)
    rejected: dict[str, int] = field(default_factory=dict)  # entries by their reason

    @property
    def still_rejected(self) -> int:
        return sum(self.rejected.values())


@dataclass
class ReplayReport:
    """A replay's outcome; `replay_id` is its writer id (and its ledger folder)."""

    job: str
    replay_id: str | None
    dry_run: bool
    tables: list[TableReplay]

    @property
    def exit_code(self) -> int:
        return EXIT_REJECTED if any(t.still_rejected for t in self.tables) else EXIT_OK

    def to_json(self) -> str:
        body = asdict(self)
        body["exit_code"] = self.exit_code
        for table, entry in zip(self.tables, body["tables"], strict=True):
            entry["still_rejected"] = table.still_rejected
        return json.dumps(body, indent=2, sort_keys=True)

    def to_text(self) -> str:
        mode = " (dry run: nothing applied, nothing recorded)" if self.dry_run else ""
        lines = [f"{self.job}: replay {self.replay_id or '-'}{mode}"]
        if not self.tables:
            return "\n".join([*lines, "nothing to replay"])
        header = ("table", "selected", "skipped", "upserts", "deletes", "stale", "rejected")
        rows = [header]
        for t in self.tables:
            upserts, deletes, stale = (str(t.upserts), str(t.deletes), str(t.stale))
            if self.dry_run:
                upserts = str(sum(n for op, n in t.decoded.items() if op != "D")) + "?"
                deletes, stale = str(t.decoded.get("D", 0)) + "?", "?"
            elif t.committed_before:
                upserts = deletes = stale = "done"
            cells = (t.table, str(t.selected), str(t.already_replayed), upserts, deletes, stale)
            rows.append((*cells, str(t.still_rejected)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines += [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        for t in self.tables:
            for reason, n in sorted(t.rejected.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"! {t.table}: {n} still rejected: {reason}")
            if t.committed_before:
                lines.append(f"  {t.table}: this replay was applied before; only recorded now")
        lines.append(
            "skipped: entries an earlier replay resolved; stale: older than the target holds "
            "(changed nothing); rejected: still in the quarantine"
        )
        return "\n".join(lines)

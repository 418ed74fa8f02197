"""What a source table's new shape means for its target: follow it, or stop the table.

Followed while running: added columns (every engine adds them, older rows read NULL) and
safe widenings (`transforms.types.widens`: a wider integer, float to double, a decimal
with more digits). Anything else stops only that table, with the reason: a dropped or
renamed column (a rename is a drop and an add), a narrowed or changed type, another
primary key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transforms.types import SourceColumn, widens

__all__ = ["SchemaChange", "compare"]


@dataclass(frozen=True)
class SchemaChange:
    added: tuple[SourceColumn, ...] = ()
    widened: tuple[tuple[SourceColumn, SourceColumn], ...] = ()  # (before, after)
    incompatible: tuple[str, ...] = ()  # why the table cannot follow

    @property
    def none(self) -> bool:
        return not (self.added or self.widened or self.incompatible)

    def describe(self) -> str:
        """One line for the log: what changed, names and types only."""
        parts = [f"column {c.name} added ({c.type})" for c in self.added]
        parts += [f"column {a.name} widened {a.type} -> {b.type}" for a, b in self.widened]
        return "; ".join([*parts, *self.incompatible]) or "no change"


def compare(
    before: Sequence[SourceColumn],
    before_keys: Sequence[str],
    after: Sequence[SourceColumn],
    after_keys: Sequence[str],
) -> SchemaChange:
    """How the table went from (`before`, `before_keys`) to (`after`, `after_keys`)."""
    old = {c.name: c for c in before}
    new = {c.name: c for c in after}
    added = tuple(c for c in after if c.name not in old)
    widened = []
    incompatible = [f"column {name} dropped or renamed" for name in old if name not in new]
    for name, column in old.items():
        if name not in new or new[name].type == column.type:
            continue
        if widens(column.type, new[name].type):
            widened.append((column, new[name]))
        else:
            incompatible.append(
                f"column {name} changed type {column.type} -> {new[name].type} (not a widening)"
            )
    if list(before_keys) != list(after_keys):
        incompatible.append(
            f"primary key ({', '.join(before_keys)}) -> ({', '.join(after_keys) or 'none'})"
        )
    return SchemaChange(added, tuple(widened), tuple(incompatible))

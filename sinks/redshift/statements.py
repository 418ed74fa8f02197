"""The warehouse engine's unit of work: SQL statements with named parameters.

Every statement the dialects emit is a `Statement`. Values never go into the text: a
statement names them as `{name}` fields and carries them in `params`; each executor
binds them with its driver's own mechanism (psycopg's `sql.Placeholder`,
redshift_connector's and the Data API's `:name`). A statement without parameters is
sent as it is written.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["Executor", "Param", "Statement", "literal", "quote"]

Param = str | int
# What a statement's affected-row count is for, when the engine reports it.
Tally = Literal["refreshed"]


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier; only plain identifiers (the config checks them)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", identifier):
        raise ValueError(f"not a plain SQL identifier: {identifier!r}")
    return f'"{identifier}"'


def literal(value: str) -> str:
    """A SQL string literal of a value from the config (an S3 URL, a role ARN)."""
    if "'" in value or "\\" in value or not value.isprintable():
        raise ValueError("a quote, a backslash or a control character cannot go into a literal")
    return f"'{value}'"


@dataclass(frozen=True)
class Statement:
    """One SQL statement.

    With `params`, `sql` is a template naming each value as a `{name}` field:
    `Statement("SELECT 1 WHERE x = {x}", {"x": 5})`. `tally` marks a statement whose
    affected rows the engine reports (the rows of denormalized tables it rewrote).
    """

    sql: str
    params: Mapping[str, Param] = field(default_factory=dict)
    tally: Tally | None = None

    def __post_init__(self) -> None:
        if self.params:
            named = {f for _, f, _, _ in string.Formatter().parse(self.sql) if f is not None}
            if named != set(self.params):
                raise ValueError(
                    f"statement fields {sorted(named)} and parameters {sorted(self.params)} differ"
                )

    def text(self, placeholder: str = ":{}") -> str:
        """The SQL with each field written as `placeholder` formats its name."""
        if not self.params:
            return self.sql
        return self.sql.format(**{name: placeholder.format(name) for name in self.params})


class Executor(Protocol):
    """Runs the engine's statements: a driver connection, or the Redshift Data API."""

    location: str  # where the tables are, for the summary (never a credential)

    def query(self, statement: Statement) -> list[tuple[Any, ...]]:
        """The rows of one statement (run on its own, committed)."""
        ...

    def transaction(self, statements: Sequence[Statement]) -> list[int]:
        """Run the statements in order as ONE transaction; rows affected by each."""
        ...

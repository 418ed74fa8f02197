"""Debezium change events as Kafka Connect's JSON converter writes them with schemas, for
tests that build records by hand."""

from __future__ import annotations

from typing import Any


def envelope_schema(name: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    """The schema of an event of the table `name` (`<prefix>.<database>.<table>`) whose
    row images (`before`, `after`) have the Connect `fields`."""
    image = {"type": "struct", "fields": fields, "optional": True, "name": f"{name}.Value"}
    return {
        "type": "struct",
        "fields": [
            {**image, "field": "before"},
            {**image, "field": "after"},
            {"type": "string", "optional": False, "field": "op"},
        ],
        "optional": False,
        "name": f"{name}.Envelope",
    }

"""The job's tables: declared, discovered by pattern, overridden, followed, stopped.

The catalog here is an in-memory `SourceCatalog` (the MariaDB one is exercised on the
local stack, tests/e2e/test_sports_pipeline.py); the rules are the registry's own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, load_config
from runtime.tables import Registry
from sources.discovery import DiscoveredTable
from transforms.types import DatabaseColumn, debezium_column

SPORTS = Path(__file__).resolve().parents[2] / "conf" / "sports.yaml"


def column(name: str, kind: str, full: str = "", precision: int | None = None) -> DatabaseColumn:
    return DatabaseColumn(name, kind, full or kind, precision, 2 if kind == "decimal" else None)


class Catalog:
    """A source catalog held in memory; tests change it as a DBA would the database."""

    def __init__(self) -> None:
        self.tables = {
            ("sports", "customer"): DiscoveredTable(
                "sports",
                "customer",
                (
                    column("customer_id", "int"),
                    column("email", "varchar"),
                    column("phone", "varchar"),
                    column("name", "varchar"),
                ),
                ("customer_id",),
            ),
            ("sports", "ticket_activity"): DiscoveredTable(
                "sports",
                "ticket_activity",
                (
                    column("ticket_id", "int"),
                    column("purchased_by", "int"),
                    column("created_at", "datetime", precision=6),
                    column("updated_at", "datetime", precision=6),
                ),
                ("ticket_id",),
            ),
            ("sports", "ticket"): DiscoveredTable(
                "sports",
                "ticket",
                (
                    column("ticket_id", "int"),
                    column("event_id", "int"),
                    column("seat_level", "varchar"),
                    column("seat_location", "varchar"),
                    column("ticket_price", "decimal", "decimal(10,2)", precision=10),
                ),
                ("ticket_id",),
            ),
            ("sports", "sport_event"): DiscoveredTable(
                "sports",
                "sport_event",
                (
                    column("event_id", "int"),
                    column("sport_type", "varchar"),
                    column("start_date", "date"),
                    column("location", "varchar"),
                ),
                ("event_id",),
            ),
            ("other", "audit"): DiscoveredTable("other", "audit", (column("id", "int"),), ("id",)),
        }

    def names(self) -> list[tuple[str, str]]:
        return sorted(self.tables)

    def describe(self, schema: str, table: str) -> DiscoveredTable | None:
        return self.tables.get((schema, table))


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


def registry(catalog: Catalog, overrides: list[str] | None = None) -> Registry:
    return Registry(load_config(SPORTS, overrides or []), catalog, debezium_column)


def test_a_pattern_replicates_every_matching_table_with_its_discovered_types(
    catalog: Catalog,
) -> None:
    replicas = {r.name: r for r in registry(catalog).start()}

    assert sorted(replicas) == ["customer", "sport_event", "ticket", "ticket_activity"]
    activity = replicas["ticket_activity"]
    assert activity.config.keys == ["ticket_id"]
    assert [(c.name, c.type, c.encoding) for c in activity.columns] == [
        ("ticket_id", "int", "text"),
        ("purchased_by", "int", "text"),
        ("created_at", "timestamp", "epoch_micros"),
        ("updated_at", "timestamp", "epoch_micros"),
    ]
    assert replicas["sport_event"].columns[2].encoding == "epoch_days"
    assert replicas["ticket"].columns[4].type == "decimal(10,2)"


def test_an_explicit_entry_overrides_what_discovery_finds(catalog: Catalog) -> None:
    replicas = {r.name: r for r in registry(catalog).start()}

    customer = replicas["customer"].config
    assert customer.protect == {"email": "hmac", "phone": "mask"}
    assert customer.column_names == ["customer_id", "email", "phone", "name"]


def test_a_table_created_while_running_is_found_when_its_first_change_arrives(
    catalog: Catalog,
) -> None:
    tables = registry(catalog)
    tables.start()
    catalog.tables[("sports", "venue")] = DiscoveredTable(
        "sports", "venue", (column("venue_id", "int"), column("city", "varchar")), ("venue_id",)
    )

    venue = tables.find("sports", "venue")

    assert venue is not None and venue.name == "venue" and venue.config.keys == ["venue_id"]
    assert tables.find("other", "audit") is None  # not matched by the patterns


def test_an_added_column_and_a_widening_are_followed(catalog: Catalog) -> None:
    tables = registry(catalog)
    tables.start()
    customer = tables.find("sports", "customer")
    assert customer is not None
    found = catalog.tables[("sports", "customer")]
    catalog.tables[("sports", "customer")] = DiscoveredTable(
        "sports",
        "customer",
        (column("customer_id", "bigint"), *found.columns[1:], column("tier", "varchar")),
        found.keys,
    )

    change = tables.refresh(customer)

    assert [c.name for c in change.added] == ["tier"]
    assert [(a.type, b.type) for a, b in change.widened] == [("int", "bigint")]
    assert customer.stopped is None
    assert customer.config.column_names[-1] == "tier"
    assert customer.config.protect == {"email": "hmac", "phone": "mask"}


@pytest.mark.parametrize(
    ("columns", "reason"),
    [
        (lambda cs: cs[:-1], "column name dropped or renamed"),
        (lambda cs: [*cs[:-1], column("name", "int")], "column name changed type string -> int"),
    ],
)
def test_a_dropped_column_or_a_changed_type_stops_only_that_table(
    catalog: Catalog, columns: object, reason: str
) -> None:
    tables = registry(catalog)
    tables.start()
    customer, ticket = tables.find("sports", "customer"), tables.find("sports", "ticket")
    assert customer is not None and ticket is not None
    found = catalog.tables[("sports", "customer")]
    changed = tuple(columns(list(found.columns)))  # type: ignore[operator]
    catalog.tables[("sports", "customer")] = DiscoveredTable(
        "sports", "customer", changed, found.keys
    )

    tables.refresh(customer)

    assert customer.stopped is not None and reason in customer.stopped
    assert ticket.stopped is None


def test_a_denormalized_table_naming_a_column_discovery_does_not_find_fails_at_start(
    catalog: Catalog,
) -> None:
    tables = registry(catalog, ["denormalize.0.columns.name=c.nickname"])

    with pytest.raises(ConfigError, match=r"denormalize\.0\.columns\.name: 'nickname' is not"):
        tables.start()


def test_a_protected_column_discovery_does_not_find_fails_at_start_naming_the_key(
    catalog: Catalog,
) -> None:
    tables = registry(catalog, ["tables.1.protect={mail: hmac}"])

    with pytest.raises(ConfigError, match=r"tables\.1.*protect.*mail"):
        tables.start()


def test_an_explicit_entry_for_a_table_the_source_lacks_fails_at_start(catalog: Catalog) -> None:
    tables = registry(catalog, ["tables.1.name=customers"])

    with pytest.raises(ConfigError, match=r"tables\.1: sports\.customers is not in the source"):
        tables.start()


def test_patterns_without_a_catalog_fail_at_start_saying_what_to_set() -> None:
    config = load_config(SPORTS, ["tables=[{include: sports.*}]", "denormalize=[]"])
    tables = Registry(config, None, debezium_column)

    with pytest.raises(ConfigError, match=r"set source\.database"):
        tables.start()


def test_an_entry_declaring_columns_without_keys_fails_at_start_naming_the_key(
    catalog: Catalog,
) -> None:
    columns = (
        "[{name: customer_id, type: int}, {name: email, type: string}, {name: phone, type: string}]"
    )
    tables = registry(catalog, [f"tables.1.columns={columns}"])

    with pytest.raises(ConfigError, match=r"tables\.1\.keys: required when the table declares"):
        tables.start()

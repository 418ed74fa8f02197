"""The warehouse keeps a denormalized table in step with every table it joins.

Real PostgreSQL; changes in canonical form, applied by the warehouse engine of each
replicated table, as the job's concurrent queries do.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from pyspark.sql import SparkSession

from config.denormalize import DenormalizedTable
from sinks.redshift import ConnectionSettings, WarehouseEngine
from sinks.redshift.denormalize import Denormalized
from sinks.redshift.dialect import Column

BOOKKEEPING = "_op string, _seq string, _pos string, _commit_ts timestamp"
TABLES = {
    "sale": ("sale_id int, item_id int, buyer_id int", ["sale_id"]),
    "item": ("item_id int, title string", ["item_id"]),
    "buyer": ("buyer_id int, email string", ["buyer_id"]),
}
SPEC = DenormalizedTable.model_validate(
    {
        "name": "sale_wide",
        "from": {"table": "sale", "as": "s"},
        "joins": [
            {"table": "item", "as": "i", "key": {"item_id": "s.item_id"}},
            {"table": "buyer", "as": "b", "key": {"buyer_id": "s.buyer_id"}},
        ],
        "columns": {
            "sale_id": "s.sale_id",
            "title": "i.title",
            "buyer_id": "s.buyer_id",
            "email": "b.email",
        },
    }
)


@dataclass
class Warehouse:
    spark: SparkSession
    settings: ConnectionSettings
    schema: str
    engines: dict[str, WarehouseEngine]
    batch: int = 0

    def apply(self, table: str, rows: Sequence[tuple[object, ...]]) -> int:
        """Apply rows (payload..., op, seq) as one batch; the rows refreshed."""
        columns, _ = TABLES[table]
        self.batch += 1
        data = [(*r[:-2], r[-2], r[-1], f"p{self.batch:06d}", None) for r in rows]
        df = self.spark.createDataFrame(data, f"{columns}, {BOOKKEEPING}")
        return self.engines[table].apply(df, self.batch, "writer").refreshed

    def wide(self) -> set[tuple[object, ...]]:
        with self.settings.connect() as conn:
            cur = conn.cursor()
            cur.execute(f'SELECT sale_id, title, buyer_id, email FROM "{self.schema}".sale_wide')
            return {tuple(r) for r in cur.fetchall()}


@pytest.fixture
def warehouse(spark: SparkSession, postgres: ConnectionSettings) -> Warehouse:
    schema = f"d_{uuid.uuid4().hex[:8]}"
    keys = {name: k for name, (_, k) in TABLES.items()}
    types = {
        name: dict(part.strip().split(" ") for part in columns.split(","))
        for name, (columns, _) in TABLES.items()
    }
    denormalized = Denormalized.resolve(SPEC, keys, types)
    engines = {}
    for name in TABLES:
        engine = WarehouseEngine(
            postgres, schema=schema, table=name, keys=keys[name], denormalized=[denormalized]
        )
        engine.ensure_tables([Column(c, t) for c, t in types[name].items()])
        engines[name] = engine
    return Warehouse(spark, postgres, schema, engines)


def test_fact_joined_to_its_dimensions(warehouse: Warehouse) -> None:
    warehouse.apply("item", [(10, "Final", "I", "1")])
    warehouse.apply("buyer", [(7, "tok-7", "I", "1")])
    refreshed = warehouse.apply("sale", [(1, 10, 7, "I", "1"), (2, 10, 7, "I", "1")])

    assert refreshed == 2
    assert warehouse.wide() == {(1, "Final", 7, "tok-7"), (2, "Final", 7, "tok-7")}


def test_fact_before_its_dimension_is_kept_then_repaired(warehouse: Warehouse) -> None:
    warehouse.apply("item", [(10, "Final", "I", "1")])
    warehouse.apply("sale", [(1, 10, 8, "I", "1")])
    assert warehouse.wide() == {(1, "Final", 8, None)}, "a missing buyer must not drop the sale"

    warehouse.apply("buyer", [(8, "tok-8", "I", "1")])
    assert warehouse.wide() == {(1, "Final", 8, "tok-8")}


def test_dimension_change_reaches_every_row_that_references_it(warehouse: Warehouse) -> None:
    warehouse.apply("item", [(10, "Final", "I", "1"), (11, "Semi", "I", "1")])
    warehouse.apply("buyer", [(7, "old", "I", "1"), (9, "other", "I", "1")])
    warehouse.apply("sale", [(1, 10, 7, "I", "1"), (2, 11, 7, "I", "1"), (3, 10, 9, "I", "1")])

    refreshed = warehouse.apply("buyer", [(7, "new", "U", "2")])

    assert refreshed == 2
    assert warehouse.wide() == {
        (1, "Final", 7, "new"),
        (2, "Semi", 7, "new"),
        (3, "Final", 9, "other"),
    }


def test_stale_dimension_change_refreshes_nothing(warehouse: Warehouse) -> None:
    warehouse.apply("buyer", [(7, "new", "I", "5")])
    warehouse.apply("sale", [(1, None, 7, "I", "1")])

    assert warehouse.apply("buyer", [(7, "older", "U", "3")]) == 0
    assert warehouse.wide() == {(1, None, 7, "new")}


def test_deleted_fact_loses_its_row_and_deleted_dimension_leaves_nulls(
    warehouse: Warehouse,
) -> None:
    warehouse.apply("item", [(10, "Final", "I", "1")])
    warehouse.apply("buyer", [(7, "tok", "I", "1")])
    warehouse.apply("sale", [(1, 10, 7, "I", "1"), (2, 10, 7, "I", "1")])

    warehouse.apply("sale", [(1, None, None, "D", "2")])
    warehouse.apply("item", [(10, None, "D", "2")])

    assert warehouse.wide() == {(2, None, 7, "tok")}


def test_fact_moving_to_another_dimension_row_follows_it(warehouse: Warehouse) -> None:
    warehouse.apply("buyer", [(7, "seven", "I", "1"), (9, "nine", "I", "1")])
    warehouse.apply("sale", [(1, None, 7, "I", "1")])

    warehouse.apply("sale", [(1, None, 9, "U", "2")])
    warehouse.apply("buyer", [(7, "seven-new", "U", "2")])

    assert warehouse.wide() == {(1, None, 9, "nine")}


def test_refreshes_wait_for_each_other(warehouse: Warehouse) -> None:
    """Concurrent batches of a fact and a dimension must not miss each other's rows.

    Another refresh holds the denormalized table: a buyer batch must wait for it
    (then see its commit) instead of refreshing from a snapshot without it.
    """
    warehouse.apply("buyer", [(7, "old", "I", "1")])
    done = threading.Event()
    errors: list[BaseException] = []

    def update_buyer() -> None:
        try:
            warehouse.apply("buyer", [(7, "new", "U", "2")])
        except BaseException as error:  # surfaced by the assert below
            errors.append(error)
        finally:
            done.set()

    with warehouse.settings.connect() as other:
        cur = other.cursor()
        cur.execute(f'LOCK TABLE "{warehouse.schema}".sale_wide IN SHARE ROW EXCLUSIVE MODE')
        cur.execute(f'INSERT INTO "{warehouse.schema}".sale (sale_id, buyer_id) VALUES (1, 7)')
        worker = threading.Thread(target=update_buyer)
        worker.start()
        assert not done.wait(timeout=8), "the buyer refresh did not wait for the other one"
        other.commit()
    worker.join(timeout=120)

    assert done.is_set() and not errors
    assert warehouse.wide() == {(1, None, 7, "new")}

"""The tables benchmark prints each run against its own shape's 1 table and, for the
job, against the plain floor of the same tables."""

from __future__ import annotations

from typing import Any

from bench.tables import _line


def run(tables: int, shape: str, wall: float, target: str = "lake") -> dict[str, Any]:
    return {
        "tables": tables,
        "target": target,
        "shape": shape,
        "wall_s": wall,
        "spark_jobs": tables,
        "driver_peak_mb": 1,
        "changes_applied": 5,
        "errors": [],
    }


def test_the_job_is_compared_with_its_one_table_and_the_floor_of_as_many_tables() -> None:
    results = [run(1, "plain", 4.0), run(1, "source", 8.0), run(200, "plain", 40.0)]
    results.append(run(200, "source", 80.0))
    line = _line(results[-1], results)
    assert "10.00x 1 table" in line
    assert "2.00x plain" in line
    assert "changes applied" in line


def test_the_floor_is_compared_with_its_own_one_table_only() -> None:
    results = [run(1, "plain", 4.0), run(1, "source", 8.0), run(20, "plain", 10.0)]
    line = _line(results[-1], results)
    assert "2.50x 1 table" in line
    assert "x plain" not in line
    assert "changes applied" not in line


def test_targets_are_not_mixed() -> None:
    results = [run(1, "plain", 4.0), run(1, "source", 8.0)]
    results += [run(1, "plain", 1.0, "warehouse"), run(1, "source", 3.0, "warehouse")]
    assert "3.00x plain" in _line(results[-1], results)

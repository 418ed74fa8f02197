"""The tables benchmark prints each run against its own shape's 1 table and, for the
job, against the plain floor of the same tables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench.tables import _line, landing


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


def test_later_batches_are_compared_with_one_tables_later_batches() -> None:
    one, many = run(1, "source", 8.0), run(200, "source", 80.0)
    one |= {"later_batches": 3, "later_batch_s": 0.5}
    many |= {"later_batches": 3, "later_batch_s": 2.0}
    line = _line(many, [run(1, "plain", 4.0), one, many])
    assert "later batches: 3, median 2.00 s (4.00x 1 table)" in line
    assert "later batches" not in _line(run(1, "source", 8.0), [run(1, "source", 8.0)])


def test_waves_of_changes_are_files_each_newer_than_the_last_with_every_change_once(
    tmp_path: Path,
) -> None:
    landing(tmp_path / "one", 3, rows=30, changes=30)
    landing(tmp_path / "waves", 3, rows=30, changes=30, batches=4)
    for table in ("t000", "t001", "t002"):
        once = sorted((tmp_path / "one" / "bench" / table).iterdir())
        waves = sorted((tmp_path / "waves" / "bench" / table).iterdir(), key=os.path.getmtime)
        assert [p.name for p in waves] == [
            "LOAD00000001.csv", *[f"20211101-{w:09d}.csv" for w in range(4)]
        ]  # fmt: skip
        assert len({os.path.getmtime(p) for p in waves}) == 5  # a wave a batch, oldest first
        assert waves[0].read_text() == once[-1].read_text()  # the same load
        changes = [line for p in waves[1:] for line in p.read_text().splitlines() if line]
        assert changes == once[0].read_text().splitlines()  # the same changes, in order


def test_the_one_program_floor_is_compared_with_its_own_one_table() -> None:
    results = [run(1, "plain", 4.0, "warehouse"), run(1, "one-program", 5.0, "warehouse")]
    results += [run(1, "source", 8.0, "warehouse"), run(200, "one-program", 6.5, "warehouse")]
    line = _line(results[-1], results)
    assert "one program" in line
    assert "1.30x 1 table" in line
    assert "x plain" not in line
    assert "changes applied" not in line

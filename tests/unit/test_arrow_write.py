"""The tasks' writer of staged lake files (sinks/lake/arrow_write.py): rows of many tables
and partitions, interleaved, end in the files of their own table and partition."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sinks.lake.arrow_write import PART, StagedTable, writer
from sinks.lake.files import partition_path
from sinks.storage import ArrowFiles

NAMES = ("_replica", "_op", "_seq", "_pos")


def _rows(seed: int, count: int) -> list[dict[str, object]]:
    """Rows of tables `a` (partitioned by two values, some NULL or empty) and `b`
    (unpartitioned), sorted by table as the staging job sorts them in each task."""
    rng = random.Random(seed)
    rows = []
    for pos in range(count):
        table = rng.choice("ab")
        region = rng.choice(["eu", "us", None, "", "a/b"])
        day = rng.choice(["2021-01-01", "2021-01-02", None])
        rows.append({
            "_replica": table, "_op": rng.choice("IUD"), "_seq": "", "_pos": pos,
            "s0": pos, "s1": f"v{pos}", PART.format(0): region if table == "a" else None,
            PART.format(1): day if table == "a" else None,
        })  # fmt: skip
    return sorted(rows, key=lambda r: str(r["_replica"]))


def _spec(folder: Path, parts: tuple[str, ...], max_rows: int) -> StagedTable:
    columns = ("id", "name", *parts)
    return StagedTable(
        folder=ArrowFiles(str(folder)),
        columns=columns,
        slots=("s0", "s1", *(PART.format(i) for i in range(len(parts)))),
        keys=("id",),
        parts=parts,
        ranged=True,
        max_rows=max_rows,
        deleted_at=0,
    )


def test_every_row_lands_in_its_tables_partition_once(tmp_path: Path) -> None:
    rows = _rows(seed=5, count=3000)
    specs = {
        "a": _spec(tmp_path / "a", ("region", "day"), max_rows=700),
        "b": _spec(tmp_path / "b", (), max_rows=700),
    }
    batches = pa.Table.from_pylist(rows).to_batches(max_chunksize=256)
    figures = pa.Table.from_batches(list(writer(specs, NAMES)(iter(batches)))).to_pylist()

    for table in "ab":
        parts = specs[table].parts
        mine = [r for r in rows if r["_replica"] == table]
        expected: dict[str, set[int]] = {}
        for r in mine:
            path = partition_path(parts, [r[PART.format(i)] for i in range(len(parts))])
            expected.setdefault(path, set()).add(int(r["s0"]))  # type: ignore[call-overload]
        written: dict[str, list[int]] = {}
        for f in (f for f in figures if f["table"] == table and f["kind"] == "keys"):
            keys = pq.ParquetFile(f"{tmp_path / table}/keys/{f['partition']}/{f['name']}").read()
            written.setdefault(f["partition"], []).extend(keys.column("id").to_pylist())
            assert f["rows"] + f["tombstones"] == keys.num_rows
        assert {p: sorted(v) for p, v in written.items()} == {
            p: sorted(v) for p, v in expected.items()
        }
        live = sum(f["rows"] for f in figures if f["table"] == table and f["kind"] == "keys")
        assert live == sum(1 for r in mine if r["_op"] != "D")

"""Checks the DMS ``cases`` simulator against an independent reading of the files it writes.

Why: the CDC job's tests trust ``Generated.final_rows`` as the expected lake state, so it
must equal a plain replay of the files, and the awkward scenarios must really be present.
"""

import csv
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path

import pytest

from simulators import cases
from simulators.cases import COLUMNS, generate

SMALL = {"initial_rows": 300, "cdc_files": 4, "changes_per_file": 80, "bad_records": 3}
KEY_RE = re.compile(r"^[0-9a-f]{24}$")
DATE_RE = re.compile(r"^[1-9]\d?/[1-9]\d?/\d{4}$")
RUNTIME_RE = re.compile(r"^[1-9]\d?/[1-9]\d?/\d{4} (1[0-2]|[1-9]):[0-5]\d:[0-5]\d (AM|PM)$")
CDC_NAME_RE = re.compile(r"^\d{8}-\d{9}\.csv$")
LOAD_NAME_RE = re.compile(r"^LOAD\d{8}\.csv$")
REQUIRED = {
    "tie_in_one_file",
    "three_changes_one_key_one_file",
    "insert_then_update_same_file",
    "update_then_delete_same_file",
    "partition_move",
    "move_to_brand_new_date",
    "delete_then_reinsert",
    "new_keys_after_existing",
    "update_of_old_row",
}

Raw = dict[str, str | None]


@dataclass
class Change:
    file: str
    line: int
    fields: list[str]

    @property
    def op(self) -> str:
        return self.fields[0]

    @property
    def key(self) -> str:
        return self.fields[1]


def _read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _raw(values: list[str]) -> Raw:
    return {c: (v if v != "" else None) for c, v in zip(COLUMNS, values, strict=True)}


def _is_num(text: str, kind: type) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


def _good(fields: list[str]) -> bool:
    """What a strict reader would accept: 14 fields, known Op, typed numbers, bare D lines."""
    if len(fields) != 1 + len(COLUMNS) or fields[0] not in {"I", "U", "D"}:
        return False
    if not KEY_RE.match(fields[1]):
        return False
    if fields[0] == "D":
        return all(v == "" for v in fields[2:])
    row = _raw(fields[1:])
    ints_ok = all(_is_num(row[c] or "0", int) for c in ("cases", "difference", "fips"))
    floats_ok = all(_is_num(row[c] or "0", float) for c in ("lat", "long"))
    return ints_ok and floats_ok


def _split(table_dir: Path) -> tuple[list[Path], list[Path]]:
    names = sorted(p.name for p in table_dir.iterdir())
    loads = [table_dir / n for n in names if n.startswith("LOAD")]
    return loads, [table_dir / n for n in names if not n.startswith("LOAD")]


def _replay(table_dir: Path) -> tuple[dict[str, Raw], list[Change], list[Change], dict[str, Raw]]:
    """Reference replay: full load, then good CDC lines in (file name, line) order."""
    loads, cdcs = _split(table_dir)
    state: dict[str, Raw] = {}
    for path in loads:
        for values in _read(path):
            state[values[0]] = _raw(values)
    loaded = dict(state)
    good: list[Change] = []
    bad: list[Change] = []
    for path in cdcs:
        for n, fields in enumerate(_read(path)):
            change = Change(path.name, n, fields)
            if not _good(fields):
                bad.append(change)
            elif change.op == "D":
                state.pop(change.key, None)
                good.append(change)
            else:
                state[change.key] = _raw(fields[1:])
                good.append(change)
    return state, good, bad, loaded


def _runtime(text: str | None) -> datetime:
    return datetime.strptime(str(text), "%m/%d/%Y %I:%M:%S %p")


def _day(text: str | None) -> date:
    return datetime.strptime(str(text), "%m/%d/%Y").date()


def _scenarios(table_dir: Path) -> set[str]:
    """Find each scenario by looking only at the files, independently of the generator."""
    _, good, _, loaded = _replay(table_dir)
    found: set[str] = set()
    state = dict(loaded)
    seen_dates = {_day(r["date"]) for r in loaded.values()}
    old_keys = set(sorted(loaded)[: len(loaded) // 2])
    max_loaded = max(loaded)
    deleted: set[str] = set()
    last_new = max_loaded
    by_file_key: dict[tuple[str, str], list[Change]] = {}
    for change in good:
        key = change.key
        by_file_key.setdefault((change.file, key), []).append(change)
        if change.op == "D":
            deleted.add(key)
            state.pop(key, None)
            continue
        row = _raw(change.fields[1:])
        new_day = _day(row["date"])
        if change.op == "I" and key in deleted:
            found.add("delete_then_reinsert")
        if change.op == "I" and key not in loaded and key not in deleted and key > last_new:
            last_new = key
            found.add("new_keys_after_existing")
        if change.op == "U":
            prev_day = _day(state[key]["date"])
            if new_day != prev_day:
                found.add("partition_move")
                if new_day not in seen_dates:
                    found.add("move_to_brand_new_date")
            if key in old_keys:
                found.add("update_of_old_row")
        seen_dates.add(new_day)
        state[key] = row
    for changes in by_file_key.values():
        ops = [c.op for c in changes]
        if len(changes) >= 3:
            found.add("three_changes_one_key_one_file")
        for first, second in pairwise(changes):
            pair = (first.op, second.op)
            if pair == ("I", "U"):
                found.add("insert_then_update_same_file")
            if pair == ("U", "D"):
                found.add("update_then_delete_same_file")
            same_time = "D" not in pair and first.fields[12] == second.fields[12]
            if same_time and first.fields != second.fields:
                found.add("tie_in_one_file")
        assert ops.count("I") <= ops.count("D") + 1
    return found


def _snapshot(table_dir: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in table_dir.iterdir()}


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", seed=7, **SMALL)
    b = generate(tmp_path / "b", seed=7, **SMALL)
    assert [p.name for p in a.files] == [p.name for p in b.files]
    for pa, pb in zip(a.files, b.files, strict=True):
        assert pa.read_bytes() == pb.read_bytes()
    assert (a.final_rows, a.ops, a.bad_records) == (b.final_rows, b.ops, b.bad_records)
    c = generate(tmp_path / "c", seed=8, **SMALL)
    assert [p.read_bytes() for p in c.files] != [p.read_bytes() for p in a.files]


def test_second_run_writes_nothing_and_keeps_existing_files(tmp_path: Path) -> None:
    first = generate(tmp_path, **SMALL)
    assert first.written == first.files
    before = _snapshot(first.table_dir)
    second = generate(tmp_path, **SMALL)
    assert second.written == []
    assert second == first
    assert _snapshot(first.table_dir) == before

    other = tmp_path / "other"
    victim = other / "public" / "cases" / first.files[-1].name
    victim.parent.mkdir(parents=True)
    victim.write_text("keep me\n", encoding="utf-8")
    third = generate(other, **SMALL)
    assert victim.read_text(encoding="utf-8") == "keep me\n"
    assert victim not in third.written
    assert len(third.written) == len(third.files) - 1


def test_file_names_and_order(tmp_path: Path) -> None:
    result = generate(tmp_path, initial_rows=250, cdc_files=5, load_rows_per_file=100)
    assert result.table_dir == tmp_path / "public" / "cases"
    assert sorted(p.name for p in result.table_dir.iterdir()) == sorted(
        p.name for p in result.files
    )
    loads, cdcs = _split(result.table_dir)
    assert [p.name for p in loads] == ["LOAD00000001.csv", "LOAD00000002.csv", "LOAD00000003.csv"]
    assert all(LOAD_NAME_RE.match(p.name) for p in loads)
    assert result.files == loads + cdcs  # commit order: load first, then CDC by name
    assert len(cdcs) == 5
    names = [p.name for p in cdcs]
    assert all(CDC_NAME_RE.match(n) for n in names)
    assert names == sorted(set(names))
    stamps = [datetime.strptime(n[:15], "%Y%m%d-%H%M%S") for n in names]
    assert stamps == sorted(stamps)
    assert all(s.year == 2020 for s in stamps)
    assert sum(len(_read(p)) for p in loads) == 250 == result.ops["load"]


def test_files_are_dated_in_the_order_dms_writes_them(tmp_path: Path) -> None:
    """The files source reads the oldest files first, by modification time in
    milliseconds: files written within one came in any order, and so did the demo's
    batches and its counts. Each file is a whole second older than the next."""
    result = generate(tmp_path, initial_rows=250, cdc_files=5, load_rows_per_file=100)
    times = [p.stat().st_mtime for p in result.files]
    assert all(later - earlier >= 0.999 for earlier, later in pairwise(times))


def test_line_shapes(tmp_path: Path) -> None:
    result = generate(tmp_path, **SMALL)
    loads, cdcs = _split(result.table_dir)
    for path in loads:
        for values in _read(path):
            assert len(values) == len(COLUMNS) == 13
            assert KEY_RE.match(values[0])
            assert values[1] in {"Confirmed", "Deaths", "Recovered"}
    _, good, bad, _ = _replay(result.table_dir)
    assert len(bad) == result.bad_records == SMALL["bad_records"]
    last = cdcs[-1].name
    last_lines = len(_read(cdcs[-1]))
    assert all(b.file == last and 0 < b.line < last_lines - 1 for b in bad)
    kinds = {
        "columns": any(len(b.fields) != 14 for b in bad),
        "op": any(len(b.fields) == 14 and b.fields[0] == "X" for b in bad),
        "cases": any(len(b.fields) == 14 and b.fields[3] == "abc" for b in bad),
    }
    assert all(kinds.values()), kinds
    for change in good:
        assert len(change.fields) == 14
        if change.op == "D":
            assert change.fields[2:] == [""] * 12
        else:
            row = _raw(change.fields[1:])
            assert DATE_RE.match(str(row["date"]))
            assert RUNTIME_RE.match(str(row["prep_flow_runtime"]))
            assert date(2020, 1, 22) <= _day(row["date"]) <= date(2020, 12, 31)
    text = b"".join(p.read_bytes() for p in result.files)
    assert b"\r" not in text
    assert b'"Korea, South"' in text
    assert "Côte d'Ivoire".encode() in text


def test_d_line_is_exactly_the_key(tmp_path: Path) -> None:
    result = generate(tmp_path, **SMALL)
    d_lines = [
        line
        for p in result.files
        for line in p.read_text(encoding="utf-8").splitlines()
        if line.startswith("D,")
    ]
    assert len(d_lines) == result.ops["D"] > 0
    assert all(re.fullmatch(r"D,[0-9a-f]{24},{12}", line) for line in d_lines)


@pytest.mark.parametrize(
    "params",
    [
        {},
        SMALL,
        {"initial_rows": 40, "cdc_files": 1, "changes_per_file": 3, "bad_records": 1},
        {"initial_rows": 60, "cdc_files": 2, "changes_per_file": 0, "bad_records": 0},
    ],
)
def test_final_rows_equal_reference_replay(tmp_path: Path, params: dict[str, int]) -> None:
    result = generate(tmp_path, seed=3, **params)
    state, good, bad, loaded = _replay(result.table_dir)
    assert result.final_rows == state
    assert len(bad) == result.bad_records
    assert result.ops == {
        "load": len(loaded),
        "I": sum(c.op == "I" for c in good),
        "U": sum(c.op == "U" for c in good),
        "D": sum(c.op == "D" for c in good),
    }
    missing = REQUIRED - _scenarios(result.table_dir)
    assert not missing


def test_business_time_never_goes_back_for_a_key(tmp_path: Path) -> None:
    """So 'latest prep_flow_runtime, ties by position' picks the same row as commit order."""
    result = generate(tmp_path, **SMALL)
    _, good, _, loaded = _replay(result.table_dir)
    last = {k: _runtime(r["prep_flow_runtime"]) for k, r in loaded.items()}
    deleted: set[str] = set()
    for change in good:
        if change.op == "D":
            deleted.add(change.key)
            continue
        ts = _runtime(change.fields[12])
        previous = last.get(change.key)
        if previous is not None:
            assert ts >= previous
            if change.op == "I" and change.key in deleted:
                assert ts > previous
        last[change.key] = ts
        assert change.key in deleted or change.op == "U" or change.key not in loaded


def test_keys_grow_with_creation_time(tmp_path: Path) -> None:
    result = generate(tmp_path, **SMALL)
    _, good, _, loaded = _replay(result.table_dir)
    new_keys = [c.key for c in good if c.op == "I" and c.key not in loaded]
    firsts = list(dict.fromkeys(new_keys))
    assert firsts and firsts == sorted(firsts)
    assert min(firsts) > max(loaded)
    for key in loaded:
        assert datetime.fromtimestamp(int(key[:8], 16), UTC).year == 2020


def test_without_cdc_files_only_the_load_is_written(tmp_path: Path) -> None:
    result = generate(tmp_path, initial_rows=30, cdc_files=0, bad_records=2)
    assert [p.name for p in result.files] == ["LOAD00000001.csv"]
    assert result.bad_records == 0
    assert result.ops == {"load": 30, "I": 0, "U": 0, "D": 0}
    assert result.final_rows == _replay(result.table_dir)[0]


@pytest.mark.parametrize(
    "params", [{"initial_rows": 5}, {"cdc_files": -1}, {"load_rows_per_file": 0}]
)
def test_rejects_bad_arguments(tmp_path: Path, params: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, **params)


def test_module_is_silent_and_cli_prints_one_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = generate(tmp_path / "api", **SMALL)
    assert capsys.readouterr() == ("", "")
    argv = ["--landing", str(tmp_path / "cli"), "--seed", "42", "--initial-rows", "300"]
    argv += ["--cdc-files", "4", "--changes-per-file", "80"]
    assert cases.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "load=300" in out and "new of" in out
    assert not any(key in out for key in result.final_rows)
    assert "Confirmed" not in out and "/2020" not in out

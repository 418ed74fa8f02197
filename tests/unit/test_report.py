"""The run report: what the job and the benchmarks write reads back, and draws as PNGs."""

from __future__ import annotations

import io
import logging
import math
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import matplotlib.image
import pytest

from bench import e2e_latency, engines, lake_scaling, tables
from bench.report import main, render
from bench.report_data import (
    ReportError,
    batch_points,
    engine_sizes,
    lake_sizes,
    load_json,
    percentile,
    rate_latencies,
    read_run_log,
    rolling,
    tables_runs,
)
from runtime.batch import SourceBatch
from runtime.listener import BatchLog
from runtime.metrics import BatchMetrics
from sinks.base import BatchResult

REPO = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JOB_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"  # jobs/stream_cdc.py's


@pytest.fixture
def job_log() -> Iterator[io.StringIO]:
    """The `stream_cdc` logger's lines, formatted as the job formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(JOB_LOG_FORMAT))
    logger = logging.getLogger("stream_cdc")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def metrics(table: str, batch_id: int, duration_s: float, **timings: float) -> BatchMetrics:
    result = BatchResult(batch_id, upserts=4, deletes=1, stale=2, timings=timings)
    return BatchMetrics(
        table=table,
        batch_id=batch_id,
        read_by_op={"I": 4, "D": 1, "U": 2},
        quarantined=1,
        skipped=0,
        result=result,
        duration_s=duration_s,
        max_latency_s=4.25 if table == "cases" else None,
        min_latency_s=0.5 if table == "cases" else None,
    )


def write_run_log(stream: io.StringIO, path: Path, batches: int = 3) -> Path:
    """A job log as the job writes it: Spark's lines, batch lines, a source line, a summary."""
    for n in range(batches):
        batch = SourceBatch(
            n,
            unrouted=1,
            tables=[
                metrics("cases", n, 2.5 + n, decide_s=0.5, rewrite_s=1.25, publish_s=0.25),
                metrics("deaths", n, 1.0, merge_s=0.75, keys_s=0.125, total_s=0.875),
            ],
        )
        BatchLog()._write("files:landing", batch, {"input_rows": 7, "trigger_ms": 900})
    spark = "26/12/02 02:19:41 WARN Utils: Set SPARK_LOCAL_IP if you need to bind\n"
    path.write_text(spark + stream.getvalue() + "stream-cdc: 2 table(s) in 9.9 s\n")
    return path


def test_the_jobs_batch_lines_read_back_as_its_batches(
    job_log: io.StringIO, tmp_path: Path
) -> None:
    points = read_run_log(write_run_log(job_log, tmp_path / "job.log"))

    assert [(p.table, p.batch_id) for p in points] == [
        ("cases", 0), ("deaths", 0), ("cases", 1), ("deaths", 1), ("cases", 2), ("deaths", 2),
    ]  # fmt: skip
    cases = points[0]
    assert cases.query == "files:landing"
    assert (cases.duration_s, cases.changes, cases.max_latency_s) == (2.5, 7, 4.25)
    assert points[1].max_latency_s is None
    assert cases.at is not None and cases.at.year >= 2026
    assert cases.phases() == {"decide": 0.5, "rewrite": 1.25, "publish": 0.25, "other": 0.5}
    assert points[1].phases() == {"merge": 0.75, "keys": 0.125, "other": 0.125}


def test_lines_that_are_not_whole_batch_lines_are_ignored(job_log: io.StringIO) -> None:
    BatchLog()._write("q", SourceBatch(5, other_tables=3), None)  # a source line only
    whole = '2026-12-02 02:00:00,001 INFO stream_cdc {"event": "batch", "table": "t", ' \
        '"batch_id": 1, "duration_s": 0.5}'  # fmt: skip
    lines = [
        *job_log.getvalue().splitlines(),
        "26/12/02 02:19:41 WARN Utils: Your hostname resolves to a loopback address",
        whole[: len(whole) // 2],  # cut short
        '2026-12-02 02:00:00,001 INFO stream_cdc {"event": "batch", "table": "t"}',  # no id
        whole,
    ]

    points = batch_points(lines)

    assert [(p.table, p.batch_id, p.duration_s, p.changes) for p in points] == [("t", 1, 0.5, 0)]


def test_rolling_percentiles_cover_the_last_batches_only(
    job_log: io.StringIO, tmp_path: Path
) -> None:
    points = read_run_log(write_run_log(job_log, tmp_path / "job.log", batches=12))
    cases = [p for p in points if p.table == "cases"]  # durations 2.5, 3.5, ..., 13.5

    windows = rolling(cases, size=10)

    assert windows[0].duration == (2.5, 2.5, 2.5)
    assert windows[-1].duration == (8.5, 13.5, 13.5)  # of 4.5 .. 13.5
    assert windows[-1].latency == (4.25, 4.25, 4.25)
    assert (windows[-1].batch_duration, windows[-1].batch_latency) == (13.5, 4.25)
    assert rolling([p for p in points if p.table == "deaths"], size=3)[-1].latency is None
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.99) == 4.0


def write_results(folder: Path) -> None:
    """Every result file, written by its benchmark's own writer."""
    small = {"rows": 1000.0, "build_s": 1.0, "median_batch_s": 0.5, "worst_batch_s": 0.7,
             "changes_per_s": 20000.0, "stale": 0.0}  # fmt: skip
    large = {**small, "rows": 5000.0, "median_batch_s": 0.25, "changes_per_s": 40000.0}
    report = engines.summary({"lake": [small, large], "delta": [small, small]}, batches=3)
    engines.write_results(report, folder / "engines.json")
    sizes = [
        {"rows": rows, "days": rows // 5000, "build_s": 1.0, "partitions_rewritten": 3,
         "engine_s": 2.0, "dynamic_s": 3.0 * n, "rewrite-all_s": 4.0 * n}
        for n, rows in enumerate((50_000, 100_000), start=1)
    ]  # fmt: skip
    lake_scaling.write_results(lake_scaling.summary(*sizes), folder / "lake_scaling.json")
    runs = [
        {"tables": n, "target": "lake", "shape": shape, "wall_s": 10.0 * n, "spark_jobs": 8,
         "changes_applied": 100, "driver_peak_mb": 900, "errors": []}
        for n, shape in ((1, "source"), (20, "source"), (20, "per-table"))
    ]  # fmt: skip
    tables.write_results(runs, folder / "tables.json")
    rates = [
        e2e_latency.Result(100, 99.0, 1000, 1000, 1.0, 2.0, 3.0),
        e2e_latency.Result(1000, 400.0, 1000, 0, math.nan, math.nan, math.nan),  # none seen
    ]
    e2e_latency.write_results(rates, 60.0, folder / "e2e_latency.json")


def test_the_benchmarks_result_files_read_back(tmp_path: Path) -> None:
    write_results(tmp_path)

    sizes = engine_sizes(load_json(tmp_path / "engines.json"))
    assert [(s.engine, s.rows, s.changes_per_s) for s in sizes] == [
        ("lake", 1000, 20000.0), ("lake", 5000, 40000.0),
        ("delta", 1000, 20000.0), ("delta", 1000, 20000.0),
    ]  # fmt: skip
    lake = lake_sizes(load_json(tmp_path / "lake_scaling.json"))
    assert [(s.rows, s.seconds) for s in lake] == [
        (50_000, {"engine": 2.0, "dynamic": 3.0, "rewrite-all": 4.0}),
        (100_000, {"engine": 2.0, "dynamic": 6.0, "rewrite-all": 8.0}),
    ]
    runs = tables_runs(load_json(tmp_path / "tables.json"))
    assert [(r.tables, r.shape, r.wall_s) for r in runs] == [
        (1, "source", 10.0), (20, "source", 200.0), (20, "per-table", 200.0),
    ]  # fmt: skip
    rates = rate_latencies(load_json(tmp_path / "e2e_latency.json"))
    assert [(r.rate, r.p50, r.p99, r.sustained) for r in rates] == [
        (100, 1.0, 3.0, True), (1000, None, None, False),
    ]  # fmt: skip


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header, after checking its signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_render_draws_one_png_per_result_file_and_two_for_a_run(
    job_log: io.StringIO, tmp_path: Path
) -> None:
    write_results(tmp_path / "results")
    run_log = write_run_log(job_log, tmp_path / "job.log", batches=4)

    written = render(tmp_path / "results", run_log, tmp_path / "charts", window=3)

    on_disk = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert sorted(p.name for p in written) == on_disk
    sizes = {p.name: png_size(p) for p in written}
    assert sizes == {
        "engines-throughput.png": (800, 450),
        "lake-scaling.png": (800, 450),
        "tables-cost.png": (800, 450),
        "e2e-latency.png": (800, 450),
        "run-latency.png": (900, 600),  # duration and latency
        "run-phases.png": (900, 620),  # two tables
    }
    image = matplotlib.image.imread(tmp_path / "charts" / "run-phases.png")
    assert image.shape[:2] == (620, 900) and image.std() > 0  # decodes, not blank


def test_only_the_result_files_present_are_drawn(tmp_path: Path) -> None:
    write_results(tmp_path / "results")
    for name in ("tables.json", "e2e_latency.json", "lake_scaling.json"):
        (tmp_path / "results" / name).unlink()

    written = render(tmp_path / "results", None, tmp_path / "charts")

    assert [p.name for p in written] == ["engines-throughput.png"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("nothing", "nothing to draw: no result file"),
        ("empty result", "engines.json: empty file"),
        ("bad result", "engines.json: expected an object with 'results'"),
        ("missing log", "job.log: no such file"),
        ("log without batches", "job.log: no batch line"),
    ],
)
def test_an_unusable_input_is_a_clear_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    args = ["--results", str(results), "--out", str(tmp_path / "charts")]
    if setup == "empty result":
        (results / "engines.json").write_text("\n")
    elif setup == "bad result":
        (results / "engines.json").write_text('[{"engine": "lake"}]')
    elif setup in ("missing log", "log without batches"):
        if setup == "log without batches":
            (tmp_path / "job.log").write_text("stream-cdc: 1 table(s) in 2.0 s\n")
        args += ["--run-log", str(tmp_path / "job.log")]

    code = main(args)

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "charts").exists()


def test_the_command_line_reports_an_error_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.report", "--results", str(tmp_path), "--out",
         str(tmp_path / "charts"), "--run-log", str(tmp_path / "none.log")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {tmp_path / 'none.log'}: no such file"]


def test_a_missing_file_and_an_empty_one_are_told_apart(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such file"):
        load_json(tmp_path / "engines.json")
    (tmp_path / "engines.json").write_text("{")
    with pytest.raises(ReportError, match="not JSON"):
        load_json(tmp_path / "engines.json")

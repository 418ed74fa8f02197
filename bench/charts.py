"""PNG charts of the run report: matplotlib's Agg backend, one figure per file.

Thin: each function draws records of bench/report_data.py and writes one PNG.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

from bench.report_data import (
    BatchPoint,
    EngineSize,
    LakeSize,
    RateLatency,
    TablesRun,
    Window,
    by_table,
)

DPI = 100
MAX_PHASE_TABLES = 4  # the tables that took the most time; the others are left out
# One colour per phase in every table's chart; `other` in grey.
PHASE_COLORS = {"decide": "C0", "rewrite": "C1", "publish": "C2", "catalog": "C4",
                "merge": "C3", "keys": "C5", "stage": "C6", "other": "lightgray"}  # fmt: skip


def engines_throughput(sizes: Sequence[EngineSize], out: Path) -> Path:
    """Changes per second of the median batch, per engine, one bar per table size."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    engines = list(dict.fromkeys(s.engine for s in sizes))
    rows = sorted({s.rows for s in sizes})
    width = 0.8 / len(rows)
    for n, size in enumerate(rows):
        values = {s.engine: s.changes_per_s for s in sizes if s.rows == size}
        xs = [i + n * width for i, e in enumerate(engines) if e in values]
        bars = ax.bar(xs, [values[e] for e in engines if e in values], width,
                      label=f"{size:,} rows")  # fmt: skip
        ax.bar_label(bars, fmt="{:,.0f}", fontsize=8)
    ax.set_xticks([i + width * (len(rows) - 1) / 2 for i in range(len(engines))], engines)
    ax.set_ylabel("changes per second (median batch)")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_title("Throughput per engine and table size (bench.engines)")
    ax.legend(title="table")
    return _save(fig, out)


def lake_scaling(sizes: Sequence[LakeSize], out: Path) -> Path:
    """Seconds for one batch: the lake engine against its baselines, per table size."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    methods = list(dict.fromkeys(k for s in sizes for k in s.seconds))
    width = 0.8 / len(methods)
    for n, method in enumerate(methods):
        xs = [i + n * width for i in range(len(sizes))]
        bars = ax.bar(xs, [s.seconds.get(method, 0.0) for s in sizes], width, label=method)
        ax.bar_label(bars, fmt="{:.2f}", fontsize=8)
    ax.set_xticks(
        [i + width * (len(methods) - 1) / 2 for i in range(len(sizes))],
        [f"{s.rows:,} rows" for s in sizes],
    )
    ax.set_ylabel("seconds per batch (median)")
    ax.set_title("Lake: one batch of changes by table size (bench.lake_scaling)")
    ax.legend()
    return _save(fig, out)


_TABLE_SHAPES = {
    "source": "one query",
    "per-table": "one query per table",
    "plain": "plain floor (a Spark write per table)",
    "one-program": "one-program floor (every table in one Spark program)",
}


def tables_cost(runs: Sequence[TablesRun], out: Path) -> Path:
    """Wall time of the same data spread over more tables, per target and shape."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for target, shape in dict.fromkeys((r.target, r.shape) for r in runs):
        mine = sorted((r for r in runs if (r.target, r.shape) == (target, shape)),
                      key=lambda r: r.tables)  # fmt: skip
        label = f"{target}, " + _TABLE_SHAPES.get(shape, shape)
        ax.plot([r.tables for r in mine], [r.wall_s for r in mine], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("tables (same rows and changes in all)")
    ax.set_ylabel("wall seconds of a --once run")
    ax.set_title("What a table costs (bench.tables)")
    ax.legend()
    return _save(fig, out)


def e2e_latency(rates: Sequence[RateLatency], out: Path) -> Path:
    """Source commit -> visible p50 (solid) and p99 (dashed) per rate, one colour per
    watched table (the job's tables and the JDBC sink's floor)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    xs = sorted({r.rate for r in rates})
    kept = {x: all(r.sustained for r in rates if r.rate == x) for x in xs}
    labels = [str(x) + ("" if kept[x] else " (not sustained)") for x in xs]
    for pipeline in dict.fromkeys(r.pipeline for r in rates):
        by_rate = {r.rate: r for r in rates if r.pipeline == pipeline}
        for name, style in (("p50", "-"), ("p99", "--")):
            ys = [getattr(by_rate[x], name) if x in by_rate else None for x in xs]
            ax.plot(labels, [y if y is not None else float("nan") for y in ys], style,
                    marker="o", label=f"{pipeline} {name}")  # fmt: skip
    ax.set_xlabel("changes per second")
    ax.set_ylabel("seconds, source commit -> visible")
    ax.set_title("End-to-end latency through the local stack (bench.e2e_latency)")
    ax.legend(fontsize="small")
    return _save(fig, out)


def run_latency(windows: Sequence[Window], size: int, out: Path) -> Path:
    """Rolling percentiles of batch duration and, when known, commit -> visible latency."""
    with_latency = any(w.latency is not None for w in windows)
    fig, axes = plt.subplots(2 if with_latency else 1, 1, figsize=(9, 6 if with_latency else 4),
                             sharex=True, squeeze=False)  # fmt: skip
    timed = all(w.at is not None for w in windows)
    xs = [w.at for w in windows] if timed else [w.index + 1 for w in windows]
    durations = [w.batch_duration for w in windows]
    _percentile_lines(axes[0][0], xs, durations, [w.duration for w in windows], "batch duration, s")
    axes[0][0].set_title(f"Per-batch percentiles over the run (last {size} batch lines)")
    if with_latency:
        nan = float("nan")
        own = [nan if w.batch_latency is None else w.batch_latency for w in windows]
        spreads = [w.latency or (nan, nan, nan) for w in windows]
        _percentile_lines(axes[1][0], xs, own, spreads, "commit -> visible, s (oldest change)")
    axes[-1][0].set_xlabel("time of the batch line" if timed else "batch line")
    if timed:
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        axes[-1][0].xaxis.set_major_locator(locator)
        concise = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        axes[-1][0].xaxis.set_major_formatter(concise)
    return _save(fig, out)


def run_phases(points: Sequence[BatchPoint], out: Path) -> Path:
    """Each batch's time split into the engine's phases, for the tables that took longest."""
    tables = list(by_table(points).items())[:MAX_PHASE_TABLES]
    fig, axes = plt.subplots(len(tables), 1, figsize=(9, 2.8 * len(tables) + 0.6),
                             squeeze=False, layout="constrained")  # fmt: skip
    for (table, batches), (ax,) in zip(tables, axes, strict=True):
        phases = [b.phases() for b in batches]
        names = list(dict.fromkeys(k for p in phases for k in p))
        names.sort(key=lambda k: k == "other")  # `other` on top
        xs = [b.batch_id for b in batches]
        bottom = [0.0] * len(batches)
        for name in names:
            heights = [p.get(name, 0.0) for p in phases]
            ax.bar(xs, heights, bottom=bottom, label=name, color=PHASE_COLORS.get(name))
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{table}: batch phases")
        ax.set_ylabel("seconds")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[-1][0].set_xlabel(
        "batch id\n(other: the rest of the source batch: routing, decoding, quarantine, "
        "the batch's other tables)"
    )
    return _save(fig, out)


def _percentile_lines(
    ax: Axes,
    xs: Sequence[Any],
    own: Sequence[float],
    spreads: Sequence[tuple[float, float, float]],
    label: str,
) -> None:
    ax.plot(xs, own, linestyle="none", marker="x", color="gray", label="each batch line")
    # max first, p95 dashed over it: with few batches in a window they coincide
    for i, name, style in ((2, "max", "-"), (1, "p95", "--"), (0, "p50", "-")):
        ax.plot(xs, [s[i] for s in spreads], marker=".", linestyle=style, label=name)
    ax.set_ylabel(label)
    ax.legend(fontsize=8)


def _save(fig: Figure, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(out, dpi=DPI, format="png", metadata={"Software": None})
    plt.close(fig)
    return out

"""Source commit -> visible in PostgreSQL, through the whole local stack, beside the floor.

    python -m bench.e2e_latency [--rates 100,1000] [--duration 120] [--find-max 2000,3000]
                                [--trigger "500 milliseconds"] [--floor apart|beside|none]

Starts the local stack (`local/stack up`), loads the sports source, registers the
Debezium connector, starts the job with `spark-submit.sh` (`--trigger`, every 500 ms by
default), waits for the snapshot to be applied, then registers the floor
(bench/jdbc_floor.py: Debezium's JDBC sink connector on the same Connect worker, upserting
`ticket_activity` into a table of its own) and, for each rate, sells tickets at that
rate for `--duration` seconds (inserts into `ticket_activity`, a commit every 20).

Latency of a row = the moment a poller first sees it in a table minus its `created_at`
(UTC time of the insert, just before its commit). The poller asks PostgreSQL every
0.2 s, so a latency is over-estimated by at most that, and it watches three tables: the
job's replicated `ticket_activity`, the job's denormalized `sport_event_activity`, and
the floor's table. Each rate prints the three side by side with the job's ratio to the
floor, then the job's batches while it was measured: how many, their median time and
changes, Spark jobs and phases, from the job's batch log lines (bench/job_log.py).

`--floor apart` (the default) measures the two pipelines one after the other at each
rate, the other's connectors paused, each pipeline first caught up with what it missed:
on 2 cores, two pipelines at 1,000 changes/s each take cores from the other (the job's
p50 was 3.6-3.8 s with the floor running, 2.4 s without it, the same code and session).
`--floor beside` runs them at once, on the same rows.

A rate is sustained when the simulator kept up and every row arrived. `--find-max`
tries higher rates for the highest with p99 under 10 s. The results are also written to
`bench/results/e2e_latency.json` (what `python -m bench.report` draws). The targets (the
throughput issue): at 1,000 changes/s, p50 <= 2 s and p99 <= 5 s for the replicated and
the denormalized table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.jdbc_floor import STACK_CONNECTOR, Floor, pause, resume
from bench.job_log import Batches, Stretch
from bench.poller import POLL_S, Poller
from simulators.sports import Simulator, connect

REPO = Path(__file__).resolve().parents[1]
STACK = REPO / "local" / "stack"
SOURCE = ("127.0.0.1", 3307, "cdc", "cdc", "sports")
WAREHOUSE = {"host": "127.0.0.1", "port": 5433, "dbname": "warehouse", "user": "warehouse",
             "password": "warehouse"}  # fmt: skip
KEY = "bench-tokenization-key"
RESULTS = Path(__file__).parent / "results" / "e2e_latency.json"


TARGET_P50_S, TARGET_P99_S = 2.0, 5.0  # at 1,000 changes/s (the throughput issue)
FLOOR = "floor (JDBC sink)"


@dataclass
class Result:
    rate: int
    achieved: float
    rows: int
    seen: int
    p50: float
    p95: float
    p99: float
    pipeline: str = "job ticket_activity"  # which table of which pipeline was watched
    batches: Batches | None = None  # the job's batches meanwhile (its log lines)

    @property
    def sustained(self) -> bool:
        return self.seen == self.rows and self.achieved >= 0.95 * self.rate

    def line(self, floor: Result | None = None) -> str:
        state = "sustained" if self.sustained else "NOT sustained"
        ratio = ""
        if floor is not None and floor is not self and floor.p50 > 0:
            ratio = f"  p50 {self.p50 / floor.p50:4.1f}x floor"
        return (
            f"{self.rate:>6}/s  {self.pipeline:<28} achieved {self.achieved:>7.1f}/s  "
            f"rows {self.rows:>7}  seen {self.seen:>7}  p50 {self.p50:6.2f} s  "
            f"p95 {self.p95:6.2f} s  p99 {self.p99:6.2f} s  {state}{ratio}"
        )


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _stack(*args: str) -> None:
    subprocess.run([str(STACK), *args], check=True, timeout=1800)


def _count(schema: str, table: str) -> int:
    with psycopg.connect(**WAREHOUSE) as conn:  # type: ignore[arg-type]
        row = conn.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name = %s",
            (schema, table),
        ).fetchone()
        if not row or not row[0]:
            return 0
        found = conn.execute(f'SELECT COUNT(*) FROM "{schema}"."{table}"').fetchone()
        return int(found[0]) if found else 0


def _start_job(schema: str, work: Path, trigger: str) -> subprocess.Popen[bytes]:
    sets = [
        f"checkpoint={work / 'checkpoint'}",
        f"quarantine.path={work / 'quarantine'}",
        f"target.schema={schema}",
        f"trigger_interval={trigger}",
    ]
    env = {
        **os.environ,
        "WAREHOUSE_PASSWORD": "warehouse",
        "STREAM_CDC_HMAC_KEY": KEY,
        "SOURCE_PASSWORD": "cdc",
    }
    log = (work / "job.log").open("wb")
    return subprocess.Popen(
        [str(REPO / "spark-submit.sh"), "jobs/stream_cdc.py", "--config", "conf/sports.yaml",
         *[a for s in sets for a in ("--set", s)]],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _measure(
    simulator: Simulator,
    poller: Poller,
    rate: int,
    duration: float,
    pipelines: list[str],
    *,
    log: Path | None = None,
) -> list[Result]:
    """One rate: each of `pipelines`' percentiles over the same inserted rows, and the
    job's batches meanwhile (from its `log`)."""
    stretch = Stretch.start(log) if log is not None else None
    since = datetime.now(UTC).replace(tzinfo=None)
    poller.since = since
    done = simulator.incremental(rate=rate, duration=duration, new_customer_share=0.0)
    # The simulator's own clock: it starts after loading the unsold tickets (4 s with a
    # million of them), which a clock around the call counted as selling time.
    elapsed = done.seconds
    with simulator.conn.cursor() as cur:
        cur.execute(
            "SELECT ticket_id, created_at FROM ticket_activity WHERE created_at >= %s", (since,)
        )
        inserted = {(int(r[0]), r[1]) for r in cur.fetchall()}
    simulator.conn.commit()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(
        inserted <= set(poller.seen[p]) for p in pipelines
    ):
        time.sleep(0.5)
    batches = stretch.batches() if stretch is not None else None
    results = []
    for pipeline in pipelines:
        seen = poller.seen[pipeline]
        latencies = [seen[t] for t in inserted if t in seen]
        results.append(
            Result(
                rate=rate,
                achieved=done.purchases / elapsed if elapsed else 0.0,
                rows=len(inserted),
                seen=len(latencies),
                p50=_percentile(latencies, 0.50),
                p95=_percentile(latencies, 0.95),
                p99=_percentile(latencies, 0.99),
                pipeline=pipeline,
                batches=None if pipeline == FLOOR else batches,
            )
        )
    return results


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="100,1000", help="changes per second, in order")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds per rate")
    parser.add_argument(
        "--find-max", default="", help="higher rates to try for the max with p99 < 10 s"
    )
    parser.add_argument("--trigger", default="500 milliseconds", help="the job's trigger interval")
    parser.add_argument(
        "--floor",
        choices=("apart", "beside", "none"),
        default="apart",
        help="the JDBC sink floor measured after the job at each rate, each pipeline with "
        "the other's connectors paused (apart); at the same time (beside); or not at all",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    rates = [int(r) for r in args.rates.split(",") if r]
    higher = [int(r) for r in args.find_max.split(",") if r]
    phases = 2 if args.floor == "apart" else 1  # apart: the job's rows, then the floor's
    tickets = int(sum([*rates, *higher]) * args.duration * phases * 1.1) + 6000  # + warm-ups

    _stack("up")
    source = connect(*SOURCE)
    simulator = Simulator(source, seed=5)
    events = _events_needed(source, tickets)
    print(f"loading the source: {events} events x 500 tickets", flush=True)
    simulator.initial(events=events, tickets_per_event=500, customers=2000)
    _stack("connector")
    run_id = uuid.uuid4().hex[:8]
    schema = f"bench_{run_id}"
    work = REPO / "work" / "bench" / schema
    work.mkdir(parents=True)
    log = work / "job.log"  # _start_job writes it; each rate reads its batches from it
    job = _start_job(schema, work, args.trigger)
    floor = None if args.floor == "none" else Floor(run_id, WAREHOUSE)
    watched = {
        "job ticket_activity": f'"{schema}".ticket_activity',
        "job sport_event_activity": f'"{schema}".sport_event_activity',
        **({FLOOR: f'public."{floor.table}"'} if floor else {}),
    }
    poller = Poller(watched, WAREHOUSE)
    results: list[Result] = []
    try:
        deadline = time.monotonic() + 900
        while _count(schema, "ticket") < events * 500:
            if job.poll() is not None or time.monotonic() > deadline:
                print(f"the job did not load the snapshot; see {log}")
                return 1
            time.sleep(2)
        if floor is not None:
            floor.start()
        poller.start()
        _warm_up(simulator, poller, list(watched))
        for rate in [*rates, *higher]:
            if floor is not None and args.floor == "apart":
                measured = _apart(simulator, poller, floor, rate, args.duration, log=log)
            else:
                measured = _measure(simulator, poller, rate, args.duration, list(watched), log=log)
            _print_rate(measured)
            results += measured
    finally:
        poller.stop.set()
        os.killpg(job.pid, signal.SIGINT)
        try:
            job.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)
        if floor is not None:
            floor.remove()
        source.close()
    _summary(results, args.trigger)
    print(f"written {write_results(results, args.duration)}")
    return 0


def _apart(
    simulator: Simulator, poller: Poller, floor: Floor, rate: int, duration: float, *, log: Path
) -> list[Result]:
    """One rate, the job then the floor, each with the other's connectors paused and
    caught up first with what it missed meanwhile."""
    job = [p for p in poller.tables if p != FLOOR]
    floor.pause()
    _warm_up(simulator, poller, job)
    measured = _measure(simulator, poller, rate, duration, job, log=log)
    pause(STACK_CONNECTOR)
    try:
        floor.resume()
        _warm_up(simulator, poller, [FLOOR])
        measured += _measure(simulator, poller, rate, duration, [FLOOR])
    finally:
        resume(STACK_CONNECTOR)
    return measured


def _warm_up(
    simulator: Simulator, poller: Poller, pipelines: list[str], timeout_s: float = 300
) -> None:
    """Sell a few tickets until each of `pipelines` shows one sold after the start, so no
    rate is measured while a pipeline still catches up (the job after the snapshot or a
    pause, the floor's new connectors reading the binlog for the first time)."""
    since = datetime.now(UTC).replace(tzinfo=None)
    poller.since = since
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        simulator.incremental(rate=20, duration=1, new_customer_share=0.0)
        if all(any(at >= since for _, at in poller.seen[p]) for p in pipelines):
            time.sleep(5)  # and what is in flight behind it
            return
    print(f"{', '.join(pipelines)}: no new row within {timeout_s:g} s; measuring anyway")


def _events_needed(source: Any, tickets: int) -> int:
    """Events (500 tickets each) the source must hold so that `tickets` are still unsold:
    a source left by an earlier run has sold some of its tickets already."""
    with source.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
            "AND table_name IN ('sport_event', 'ticket', 'ticket_activity')"
        )
        if cur.fetchone()[0] < 3:
            return max(20, tickets // 500 + 1)
        cur.execute("SELECT COUNT(*) FROM sport_event")
        events = int(cur.fetchone()[0])
        cur.execute(
            "SELECT COUNT(*) FROM ticket t LEFT JOIN ticket_activity a USING (ticket_id) "
            "WHERE a.ticket_id IS NULL"
        )
        unsold = int(cur.fetchone()[0])
    source.commit()
    return max(20, events + max(0, tickets - unsold) // 500 + 1)


def _print_rate(measured: list[Result]) -> None:
    """One rate: each table watched, then the job's batches (the same for its tables)."""
    for result in measured:
        print(result.line(_floor_of(measured)), flush=True)
    batches = next((r.batches for r in measured if r.batches is not None), None)
    if batches is not None:
        print(f"{measured[0].rate:>6}/s  {batches.line()}", flush=True)


def _floor_of(results: list[Result]) -> Result | None:
    return next((r for r in results if r.pipeline == FLOOR), None)


def _summary(results: list[Result], trigger: str) -> None:
    print(f"\nrate (changes/s), p50/p95/p99 source commit -> visible in PostgreSQL "
          f"(job trigger every {trigger})")  # fmt: skip
    for rate in dict.fromkeys(r.rate for r in results):
        _print_rate([r for r in results if r.rate == rate])
    job = [r for r in results if r.pipeline != FLOOR]
    kept: dict[int, bool] = {}
    for r in job:  # a rate is kept when every table of the job kept up at it
        kept[r.rate] = kept.get(r.rate, True) and r.sustained and r.p99 < 10
    best = max((rate for rate, ok in kept.items() if ok), default=None)
    print(f"highest sustained rate with p99 < 10 s among those tried: {best or 'none'}/s")
    for r in (r for r in job if r.rate == 1000):
        met = r.sustained and r.p50 <= TARGET_P50_S and r.p99 <= TARGET_P99_S
        print(f"target p50 <= {TARGET_P50_S:g} s and p99 <= {TARGET_P99_S:g} s at 1,000/s, "
              f"{r.pipeline}: {'met' if met else 'NOT met'} "
              f"(p50 {r.p50:.2f} s, p99 {r.p99:.2f} s)")  # fmt: skip
    if job:
        print(f"median of the job's p50s: {statistics.median([r.p50 for r in job]):.2f} s")


def write_results(results: list[Result], duration: float, path: Path = RESULTS) -> Path:
    """Every rate as JSON (bench/results/e2e_latency.json; python -m bench.report draws it).
    A percentile of no row (nothing arrived) is null."""
    rates = [
        {**{k: None if isinstance(v, float) and math.isnan(v) else v
            for k, v in asdict(r).items()}, "sustained": r.sustained}
        for r in results
    ]  # fmt: skip
    report = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "duration_s": duration,
              "poll_s": POLL_S, "results": rates}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return path


if __name__ == "__main__":
    sys.exit(main())

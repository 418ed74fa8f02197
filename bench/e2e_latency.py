"""Source commit -> visible in PostgreSQL, through the whole local stack.

    python -m bench.e2e_latency [--rates 100,1000] [--duration 120] [--find-max 2000,3000]

Starts the local stack (`local/stack up`), loads the sports source, registers the
Debezium connector, starts the job with `spark-submit.sh` (trigger every second),
waits for the snapshot to be applied, then, for each rate, sells tickets at that
rate for `--duration` seconds (inserts into `ticket_activity`, a commit every 20).

Latency of a row = the moment a poller first sees it in the warehouse minus its
`created_at` (UTC time of the insert, just before its commit): the poller asks
PostgreSQL every 0.2 s, so a latency is over-estimated by at most that. A rate is
sustained when the simulator kept up and every row arrived. `--find-max` tries
higher rates for the highest with p99 under 10 s. The results are also written to
`bench/results/e2e_latency.json` (what `python -m bench.report` draws).
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
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from simulators.sports import Simulator, connect

REPO = Path(__file__).resolve().parents[1]
STACK = REPO / "local" / "stack"
SOURCE = ("127.0.0.1", 3307, "cdc", "cdc", "sports")
WAREHOUSE = {"host": "127.0.0.1", "port": 5433, "dbname": "warehouse", "user": "warehouse",
             "password": "warehouse"}  # fmt: skip
KEY = "bench-tokenization-key"
POLL_S = 0.2
RESULTS = Path(__file__).parent / "results" / "e2e_latency.json"


@dataclass
class Result:
    rate: int
    achieved: float
    rows: int
    seen: int
    p50: float
    p95: float
    p99: float

    @property
    def sustained(self) -> bool:
        return self.seen == self.rows and self.achieved >= 0.95 * self.rate

    def line(self) -> str:
        state = "sustained" if self.sustained else "NOT sustained"
        return (
            f"{self.rate:>6}/s  achieved {self.achieved:>7.1f}/s  rows {self.rows:>7}  "
            f"seen {self.seen:>7}  p50 {self.p50:6.2f} s  p95 {self.p95:6.2f} s  "
            f"p99 {self.p99:6.2f} s  {state}"
        )


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Poller(threading.Thread):
    """Records when each new ticket_activity row first shows in the warehouse."""

    def __init__(self, schema: str) -> None:
        super().__init__(daemon=True)
        self.schema = schema
        self.seen: dict[tuple[int, datetime], float] = {}  # (ticket, created_at) -> latency
        self.stop = threading.Event()
        self.since = datetime.now(UTC).replace(tzinfo=None)  # created_at is UTC, naive

    def run(self) -> None:
        with psycopg.connect(**WAREHOUSE, autocommit=True) as conn:  # type: ignore[arg-type]
            while not self.stop.is_set():
                now = time.time()
                rows = conn.execute(
                    f'SELECT ticket_id, created_at FROM "{self.schema}".ticket_activity '
                    "WHERE created_at >= %s",
                    (self.since,),
                ).fetchall()
                for ticket_id, created_at in rows:
                    if (ticket_id, created_at) not in self.seen:
                        committed = created_at.replace(tzinfo=UTC).timestamp()
                        self.seen[ticket_id, created_at] = now - committed
                time.sleep(POLL_S)


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


def _start_job(schema: str, work: Path) -> subprocess.Popen[bytes]:
    sets = [
        f"checkpoint={work / 'checkpoint'}",
        f"quarantine.path={work / 'quarantine'}",
        f"target.schema={schema}",
        "trigger_interval=1 second",
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


def _measure(simulator: Simulator, poller: Poller, rate: int, duration: float) -> Result:
    since = datetime.now(UTC).replace(tzinfo=None)
    poller.since = since
    started = time.monotonic()
    done = simulator.incremental(rate=rate, duration=duration, new_customer_share=0.0)
    elapsed = time.monotonic() - started
    with simulator.conn.cursor() as cur:
        cur.execute(
            "SELECT ticket_id, created_at FROM ticket_activity WHERE created_at >= %s", (since,)
        )
        inserted = {(int(r[0]), r[1]) for r in cur.fetchall()}
    simulator.conn.commit()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not inserted <= set(poller.seen):
        time.sleep(0.5)
    latencies = [poller.seen[t] for t in inserted if t in poller.seen]
    return Result(
        rate=rate,
        achieved=done.purchases / elapsed if elapsed else 0.0,
        rows=len(inserted),
        seen=len(latencies),
        p50=_percentile(latencies, 0.50),
        p95=_percentile(latencies, 0.95),
        p99=_percentile(latencies, 0.99),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="100,1000", help="changes per second, in order")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds per rate")
    parser.add_argument(
        "--find-max", default="", help="higher rates to try for the max with p99 < 10 s"
    )
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",") if r]
    higher = [int(r) for r in args.find_max.split(",") if r]
    tickets = int(sum([*rates, *higher]) * args.duration * 1.1)

    _stack("up")
    source = connect(*SOURCE)
    simulator = Simulator(source, seed=5)
    events = max(20, tickets // 500 + 1)
    print(f"loading the source: {events} events x 500 tickets", flush=True)
    simulator.initial(events=events, tickets_per_event=500, customers=2000)
    _stack("connector")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    work = REPO / "work" / "bench" / schema
    work.mkdir(parents=True)
    job = _start_job(schema, work)
    poller = Poller(schema)
    results: list[Result] = []
    try:
        deadline = time.monotonic() + 900
        while _count(schema, "ticket") < events * 500:
            if job.poll() is not None or time.monotonic() > deadline:
                print(f"the job did not load the snapshot; see {work / 'job.log'}")
                return 1
            time.sleep(2)
        poller.start()
        for rate in [*rates, *higher]:
            result = _measure(simulator, poller, rate, args.duration)
            print(result.line(), flush=True)
            results.append(result)
    finally:
        poller.stop.set()
        os.killpg(job.pid, signal.SIGINT)
        try:
            job.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)
        source.close()
    ok = [r for r in results if r.sustained and r.p99 < 10]
    print("\nrate (changes/s), p50/p95/p99 source commit -> visible in PostgreSQL")
    for r in results:
        print(r.line())
    best = max((r.rate for r in ok), default=None)
    print(f"highest sustained rate with p99 < 10 s among those tried: {best or 'none'}/s")
    at_1000 = next((r for r in results if r.rate == 1000), None)
    if at_1000:
        met = at_1000.sustained and at_1000.p50 <= 5
        print(f"target p50 <= 5 s at 1,000/s: {'met' if met else 'NOT met'} ({at_1000.p50:.2f} s)")
    print(f"median of p50s: {statistics.median([r.p50 for r in results]):.2f} s")
    print(f"written {write_results(results, args.duration)}")
    return 0


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

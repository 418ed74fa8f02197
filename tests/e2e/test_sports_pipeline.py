"""MariaDB -> Debezium -> Kafka -> the job -> PostgreSQL: every part a real server.

The job runs as users run it (`spark-submit.sh`, streaming, in its own process
group) and is checked the way users check it: `verify` (the source's rows through
the job's transforms, compared with the warehouse). The tests share one stack, but
none relies on another having run: each starts the job (or stops it) as it needs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import pytest
from pyspark.sql import SparkSession

from config import JobConfig, Tokenization
from config.load import load_config
from runtime.status import HEALTHY, LAGGING, health
from runtime.status_read import read_status
from runtime.verification import Difference, verify
from simulators.sports import Simulator, connect, current_state
from tests.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "local" / "stack"
KEY = "e2e-tokenization-key"
HOST, PORT, USER, PASSWORD = "127.0.0.1", 3307, "cdc", "cdc"

pytestmark = pytest.mark.stack


@dataclass
class Pipeline:
    """The stack, a stoppable warehouse, the simulator and the job's process."""

    spark: SparkSession
    warehouse: PostgresServer
    simulator: Simulator
    work: Path
    config: JobConfig
    overrides: list[str]
    job: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)
    pii: set[str] = field(default_factory=set)  # every raw email and phone ever generated

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "WAREHOUSE_PASSWORD": "unused-with-trust-auth",
            "SOURCE_PASSWORD": PASSWORD,
            "STREAM_CDC_HMAC_KEY": KEY,
        }

    def start_job(self) -> None:
        assert self.job is None or self.job.poll() is not None
        log = self.work / f"job-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.job = subprocess.Popen(
                [str(REPO / "spark-submit.sh"), "jobs/stream_cdc.py", "--config",
                 "conf/sports.yaml", *[a for o in self.overrides for a in ("--set", o)]],
                cwd=REPO,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def run_records(self) -> set[str]:
        """The run documents the job keeps beside its checkpoint (runtime/journal.py)."""
        return {p.name for p in (self.work / "checkpoint" / "_status" / "runs").glob("*.json")}

    def wait_started(self, before: set[str], timeout_s: float = 240) -> None:
        """Until the job has recorded its run's start: a warehouse already in step says
        nothing about the job, and a Ctrl-C while the JVM starts stops it unrecorded."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.run_records() - before:
                return
            assert self.job is not None and self.job.poll() is None, self.tail()
            time.sleep(1)
        raise AssertionError(f"the job did not start in {timeout_s:.0f} s\n{self.tail()}")

    def kill_job(self) -> None:
        assert self.job is not None
        os.killpg(self.job.pid, signal.SIGKILL)
        self.job.wait(timeout=60)

    def stop_job(self) -> None:
        if self.job is None or self.job.poll() is not None:
            return
        os.killpg(self.job.pid, signal.SIGINT)
        try:
            self.job.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(self.job.pid, signal.SIGKILL)
            self.job.wait(timeout=60)

    def change(self, **counts: int) -> None:
        """A bulk of source changes (Simulator.bulk), its raw emails and phones remembered."""
        self.simulator.bulk(**counts)
        self.remember_pii()

    def remember_pii(self) -> None:
        for row in current_state(self.simulator.conn)["customer"]:
            self.pii.update(v for v in (row["email"], row["phone"]) if v)

    def differences(self) -> list[Difference]:
        source = pymysql.connect(host=HOST, port=PORT, user=USER, password=PASSWORD)
        target = self.warehouse.settings.connect()
        try:
            return verify(self.spark, self.config, source, target, Tokenization(KEY.encode()))
        finally:
            source.close()
            target.close()

    def counts_differ(self) -> list[str]:
        """The source's tables whose row count the warehouse does not have yet: a look in
        SQL alone, so that polling leaves the CPU to the job until `verify` can pass."""
        with _source() as source, source.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'sports' AND table_type = 'BASE TABLE'"
            )
            counts: dict[str, int] = {}
            for (table,) in cur.fetchall():
                cur.execute(f"SELECT COUNT(*) FROM `{table}`")
                counts[table] = cur.fetchone()[0]
        different = []
        with self.warehouse.settings.connect() as target:
            for table, count in counts.items():
                (exists,) = target.execute(
                    "SELECT to_regclass(%s)", (f"sports.{table}",)
                ).fetchone()
                held = (
                    exists and target.execute(f'SELECT COUNT(*) FROM sports."{table}"').fetchone()
                )
                if not held or held[0] != count:
                    different.append(f"{table}: row count")
        return different

    def converge(self, timeout_s: float) -> tuple[list[str], float]:
        """(the tables verify still finds different, seconds waited), polling until none
        is or `timeout_s` passed; a job that died fails at once with its error."""
        started = time.monotonic()
        different: list[str] = ["not compared yet"]
        while different and time.monotonic() - started < timeout_s:
            assert self.job is None or self.job.poll() is None, self.tail()
            different = self.counts_differ() or [d.line() for d in self.differences() if not d.ok]
            if different:
                time.sleep(1)
        return different, time.monotonic() - started

    def ensure_converged(self) -> None:
        """The warehouse equal to the source; a stopped job is started only when it is
        not (a test that reads the result needs no restart)."""
        stopped = self.job is None or self.job.poll() is not None
        if stopped and not self.counts_differ() and all(d.ok for d in self.differences()):
            return
        self.ensure_running()

    def ensure_running(self) -> None:
        """The job running and caught up with the source, whatever ran before."""
        if self.job is None or self.job.poll() is not None:
            before = self.run_records()
            self.start_job()
            self.wait_started(before)
        different, _ = self.converge(timeout_s=240)  # start-up and the initial snapshot
        assert different == [], "\n".join(different) + "\n" + self.tail()

    def tail(self) -> str:
        """The job's error (with the Python traceback it carries), else the log's end."""
        text = self.logs[-1].read_text(errors="replace") if self.logs else ""
        error = text.find("\nerror: ")
        return text[error : error + 8000] if error >= 0 else text[-4000:]


def _stack(*args: str, timeout: float) -> None:
    done = subprocess.run(
        [str(STACK), *args], check=False, timeout=timeout, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def pipeline(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    _stack("reset", timeout=300)  # topics and binlog from this module only
    _stack("up", timeout=1200)
    warehouse = PostgresServer()
    work = tmp_path_factory.mktemp("sports")
    overrides = [
        f"checkpoint={work / 'checkpoint'}",
        f"quarantine.path={work / 'quarantine'}",
        f"target.port={warehouse.port}",
        "target.schema=sports",
        "trigger_interval=1 second",
    ]
    config = load_config(REPO / "conf" / "sports.yaml", overrides)
    conn = connect(HOST, PORT, USER, PASSWORD, "sports")
    simulator = Simulator(conn, seed=11)
    simulator.initial(events=20, tickets_per_event=160, customers=200)
    _stack("connector", timeout=300)
    pipeline = Pipeline(spark, warehouse, simulator, work, config, overrides)
    pipeline.remember_pii()
    try:
        yield pipeline
    finally:
        pipeline.stop_job()
        conn.close()
        warehouse.remove()
        subprocess.run([str(STACK), "down"], check=False, timeout=300, capture_output=True)


def test_changes_are_verified_within_60_s_of_the_last_one(pipeline: Pipeline) -> None:
    pipeline.ensure_running()

    pipeline.change(inserts=1000, updates=100, deletes=50, customer_updates=20)
    different, waited = pipeline.converge(timeout_s=180)

    assert different == []
    assert waited <= 60, f"verified only after {waited:.0f} s"


def test_poison_on_a_kafka_topic_is_quarantined_and_the_stream_goes_on(pipeline: Pipeline) -> None:
    """Bad messages written straight to a table's topic, read by the running job."""
    pipeline.ensure_running()
    source = {"db": "sports", "table": "sport_event", "file": "mysql-bin.000001", "pos": 4,
              "row": 0, "ts_ms": 0, "snapshot": "false"}  # fmt: skip
    event = {"event_id": 999999, "sport_type": "x", "location": "y"}
    poison = {
        "malformed JSON record": '{"op": "c", "after": {',
        "empty record": " ",
        "Debezium schema-change event (DDL), not a row change": json.dumps(
            {
                "source": source,
                "databaseName": "sports",
                "tableChanges": [],
                "ddl": "ALTER TABLE sport_event ADD COLUMN x INT",
            }
        ),
        "unknown Debezium op": json.dumps({"op": "z", "source": source, "after": event}),
        "Debezium event without source": json.dumps(  # a schema envelope is read through
            {"schema": {"type": "struct"}, "payload": {"op": "c"}}
        ),
        "column start_date: not a valid date": json.dumps(
            {"op": "c", "source": source, "after": {**event, "start_date": "tomorrow"}}
        ),
    }
    (
        pipeline.spark.createDataFrame([(v,) for v in poison.values()], "value string")
        .write.format("kafka")
        .option("kafka.bootstrap.servers", "127.0.0.1:9092")
        .option("topic", "sports.sports.sport_event")
        .save()
    )
    folder = pipeline.work / "quarantine" / "sport_event"
    reasons: set[str] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not set(poison) <= reasons:
        time.sleep(2)
        reasons = {
            json.loads(line)["reason"]
            for part in folder.glob("batch_id=*/*.json")
            for line in part.read_text().splitlines()
        }
    assert set(poison) <= reasons
    different, _ = pipeline.converge(timeout_s=60)  # still running, nothing poisoned the table
    assert different == []


class _Changes(threading.Thread):
    """Source changes in the background, `rounds` small bulks a second apart."""

    def __init__(self, pipeline: Pipeline, rounds: int) -> None:
        super().__init__()
        self.pipeline, self.rounds = pipeline, rounds
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            for _ in range(self.rounds):
                self.pipeline.simulator.bulk(inserts=40, updates=10, deletes=5, customer_updates=2)
                time.sleep(1)
        except BaseException as error:  # surfaced by finish()
            self.error = error

    def finish(self) -> None:
        self.join(timeout=300)
        assert not self.is_alive() and self.error is None, repr(self.error)
        self.pipeline.remember_pii()


def test_sigkill_mid_stream_then_restart_loses_and_doubles_nothing(pipeline: Pipeline) -> None:
    pipeline.ensure_running()
    changes = _Changes(pipeline, rounds=12)
    time.sleep(6)
    pipeline.kill_job()
    changes.finish()

    pipeline.start_job()
    different, _ = pipeline.converge(timeout_s=180)

    assert different == []


def test_warehouse_stopped_30_s_mid_stream_is_retried_without_loss(pipeline: Pipeline) -> None:
    pipeline.ensure_running()
    changes = _Changes(pipeline, rounds=20)
    time.sleep(4)
    pipeline.warehouse.stop()
    time.sleep(30)
    pipeline.warehouse.start()
    changes.finish()
    different, _ = pipeline.converge(timeout_s=180)

    assert different == []
    assert pipeline.job is not None and pipeline.job.poll() is None, "the job must ride it out"
    assert "unreachable" in pipeline.logs[-1].read_text(errors="replace")


def test_a_new_table_and_a_new_column_reach_the_warehouse_without_a_restart(
    pipeline: Pipeline,
) -> None:
    """Whole-database mode: `sports.*` is discovered, and followed while the job runs."""
    pipeline.ensure_running()
    assert pipeline.job is not None
    running = pipeline.job.pid
    with _source() as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS venue (venue_id INT PRIMARY KEY, "
            "name VARCHAR(64), capacity INT, opened DATE, fee DECIMAL(12,4))"
        )
        cur.executemany(
            "INSERT INTO venue VALUES (%s, %s, %s, %s, %s)",
            [
                (1, "Arena", 18000, "1999-05-01", "12.3456"),
                (2, "Dome", 45000, None, None),
                (3, "Park", 3000, "2020-02-29", "0.5"),
            ],
        )
        cur.execute("ALTER TABLE customer ADD COLUMN IF NOT EXISTS tier VARCHAR(16)")
        cur.execute("UPDATE customer SET tier = 'gold' WHERE MOD(customer_id, 10) = 0")
        conn.commit()  # fmt: skip

    different, _ = pipeline.converge(timeout_s=180)

    assert different == []
    assert pipeline.job is not None and pipeline.job.pid == running, "no restart"
    with pipeline.warehouse.settings.connect() as warehouse:
        venues = warehouse.execute("SELECT COUNT(*) FROM sports.venue").fetchone()
        tiers = warehouse.execute(
            "SELECT COUNT(*) FROM sports.customer WHERE tier = 'gold'"
        ).fetchone()
    assert venues == (3,)
    assert tiers is not None and tiers[0] > 0


def test_no_raw_email_or_phone_in_any_log(pipeline: Pipeline) -> None:
    pipeline.ensure_running()
    pipeline.change(inserts=40, updates=10, deletes=5, customer_updates=20)
    different, _ = pipeline.converge(timeout_s=120)
    assert different == []
    logs = [*pipeline.logs, *sorted((REPO / "work" / "stack" / "logs").glob("*"))]
    texts: dict[str, Any] = {str(p): p.read_text(errors="replace") for p in logs if p.is_file()}
    assert pipeline.logs and len(pipeline.pii) > 200
    leaks = {name: sum(v in text for v in pipeline.pii) for name, text in texts.items()}

    assert {name: n for name, n in leaks.items() if n} == {}


def test_each_table_gets_only_the_records_of_its_own_topic(pipeline: Pipeline) -> None:
    """One query reads every topic; `ticket` must not get `ticket_activity`'s records (the
    routing is exact), and each table counts its own skipped records (tombstones)."""
    if not any(log.is_file() for log in pipeline.logs):
        pipeline.ensure_running()  # a log that holds the batches of every table
    lines = [
        json.loads(line.split(" stream_cdc ", 1)[1])
        for log in pipeline.logs
        for line in log.read_text(errors="replace").splitlines()
        if ' stream_cdc {"event": "batch"' in line
    ]
    skipped = {"ticket": 0, "sport_event": 0, "customer": 0, "ticket_activity": 0}
    for line in lines:
        if line["table"] in skipped:  # other tables may have been created meanwhile
            skipped[line["table"]] += line["skipped"]

    assert {t: n for t, n in skipped.items() if t != "ticket_activity"} == {
        "ticket": 0,
        "sport_event": 0,
        "customer": 0,
    }
    assert skipped["ticket_activity"] > 0, "its tombstones are skipped and counted"


def test_a_source_transaction_read_in_one_batch_is_visible_whole(pipeline: Pipeline) -> None:
    """A customer and her purchase inserted in ONE MariaDB transaction: the purchase's
    denormalized row is never seen without its customer (the batch lands in one
    warehouse transaction; before, each table's query applied its own changes)."""
    pipeline.ensure_running()
    pipeline.stop_job()
    with _source() as conn, conn.cursor() as cur:
        cur.execute("SELECT MAX(customer_id) + 1 FROM customer")
        (customer,) = cur.fetchone()
        cur.execute(
            "SELECT MIN(t.ticket_id) FROM ticket t LEFT JOIN ticket_activity a "
            "ON a.ticket_id = t.ticket_id WHERE a.ticket_id IS NULL"
        )
        (ticket,) = cur.fetchone()
        cur.execute(
            "INSERT INTO customer (customer_id, name, email, phone) "
            "VALUES (%s, 'Whole Transaction', 'whole.tx@example.com', '555-0100')",
            (customer,),
        )
        cur.execute(
            "INSERT INTO ticket_activity VALUES (%s, %s, NOW(6), NOW(6))", (ticket, customer)
        )
        conn.commit()  # fmt: skip
    pipeline.pii.update({"whole.tx@example.com", "555-0100"})
    pipeline.start_job()
    seen: list[tuple[Any, ...]] = []
    deadline = time.monotonic() + 240
    with pipeline.warehouse.settings.connect() as warehouse:
        while not seen and time.monotonic() < deadline:
            seen = warehouse.execute(
                "SELECT name, email_address FROM sports.sport_event_activity "
                "WHERE ticket_id = %s", (ticket,)
            ).fetchall()  # fmt: skip
            warehouse.commit()
            time.sleep(0.05)

    assert seen, "the purchase never reached the warehouse"
    assert seen[0][0] == "Whole Transaction" and seen[0][1] is not None


def _source() -> Any:
    return pymysql.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, database="sports")


def test_reprocessing_from_a_point_with_a_new_checkpoint_converges(pipeline: Pipeline) -> None:
    """Operations: re-read Kafka from a point in time into the same warehouse tables.

    The point is taken after the last change of `sport_event` and `ticket` (which `bulk`
    never touches), so their topics are quiet after it on purpose, whatever the speed of
    the machine: the job must start, say that they start at the end of their topics, and
    converge; the tables that changed re-read their changes as stale.
    """
    pipeline.ensure_running()
    since = dt.datetime.now(dt.UTC)
    time.sleep(1)
    pipeline.change(inserts=40, updates=10, deletes=5, customer_updates=2)
    different, _ = pipeline.converge(timeout_s=120)
    assert different == []
    pipeline.stop_job()
    log = pipeline.work / "reprocess.log"
    pipeline.logs.append(log)
    overrides = [
        *pipeline.overrides,
        f"checkpoint={pipeline.work / 'checkpoint-reprocess'}",
        f"source.starting_timestamp={since.isoformat()}",
    ]
    with log.open("wb") as out:
        done = subprocess.run(
            [str(REPO / "spark-submit.sh"), "jobs/stream_cdc.py", "--config", "conf/sports.yaml",
             "--once", *[a for o in overrides for a in ("--set", o)]],
            check=False, cwd=REPO, env=pipeline.env(), stdout=out, stderr=subprocess.STDOUT,
            timeout=900,
        )  # fmt: skip
    summary = log.read_text(errors="replace")

    assert done.returncode == 0, summary[-4000:]
    quiet = re.findall(r"\n  (\w+): .*\n(?:    .*\n)*?    note +no change at or after", summary)
    # (a table another test created is quiet too: only the four tables are asserted)
    assert {"sport_event", "ticket"} <= set(quiet)
    assert not {"customer", "ticket_activity"} & set(quiet), "they changed after the point"
    stale = sum(int(n) for n in re.findall(r"(\d+) stale ignored", summary))
    assert stale > 0, "the re-read changes are already held: the sequence guard ignores them"
    differences = pipeline.differences()
    assert all(d.ok for d in differences), "\n".join(d.line() for d in differences)


def test_status_shows_the_kafka_offsets_read_and_the_messages_left_behind(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAREHOUSE_PASSWORD", pipeline.env()["WAREHOUSE_PASSWORD"])
    config = load_config(REPO / "conf" / "sports.yaml", pipeline.overrides)  # with its secret
    pipeline.ensure_converged()  # a job stopped in step with the source is not restarted
    pipeline.stop_job()  # after its batch: nothing left behind
    caught_up = read_status(pipeline.spark, config, max_lag_s=900)
    (query,) = caught_up.queries
    assert health(caught_up) == HEALTHY, caught_up.reasons
    assert query.pending == 0 and query.state == "stopped"
    offsets = query.position["offsets"]
    assert offsets["sports.sports.ticket/0"] > 0, query  # the snapshot's tickets, read

    # One row change, one message: ticket_activity rows only (no new customer).
    bulk = pipeline.simulator.bulk(inserts=30, updates=5, new_customer_share=0.0)
    pipeline.remember_pii()
    sent = len(bulk.changes)
    deadline = time.monotonic() + 90  # Debezium publishes within seconds
    behind = caught_up
    while time.monotonic() < deadline and (behind.queries[0].pending or 0) < sent:
        time.sleep(2)
        behind = read_status(pipeline.spark, config, max_lag_s=0)
    assert behind.queries[0].pending == sent  # none read
    assert behind.queries[0].position["offsets"] == offsets  # the checkpoint did not move
    assert health(behind) == LAGGING
    assert behind.reasons[0].startswith(f"query source: {sent} pending, last batch")


def test_verify_command_exits_1_on_a_difference_and_shows_no_value(pipeline: Pipeline) -> None:
    pipeline.ensure_converged()
    pipeline.stop_job()
    command = [str(REPO / "spark-submit.sh"), "jobs/verify.py", "--config", "conf/sports.yaml"]
    command += [a for o in pipeline.overrides for a in ("--set", o)]

    def verify_command() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            check=False,
            cwd=REPO,
            env=pipeline.env(),
            capture_output=True,
            text=True,
            timeout=600,
        )

    same = verify_command()
    assert same.returncode == 0, same.stdout + same.stderr[-3000:]
    assert "verify: ok" in same.stdout

    with pipeline.warehouse.settings.connect() as conn:
        row = conn.execute(
            "SELECT ticket_id, name FROM sports.sport_event_activity ORDER BY ticket_id LIMIT 1"
        ).fetchone()
        assert row is not None
        tamper = "UPDATE sports.sport_event_activity SET name = 'tampered' WHERE ticket_id = %s"
        conn.execute(tamper, (row[0],))
        conn.commit()
    try:
        changed = verify_command()
    finally:  # other tests compare the warehouse with the source: put the row back
        with pipeline.warehouse.settings.connect() as conn:
            conn.execute("UPDATE sports.sport_event_activity SET name = %s WHERE ticket_id = %s",
                         (row[1], row[0]))  # fmt: skip
            conn.commit()

    assert changed.returncode == 1, changed.stdout + changed.stderr[-3000:]
    assert re.search(r"sport_event_activity\s+DIFFERENT .* 0 missing, 0 extra, 1 different",
                     changed.stdout)  # fmt: skip
    assert "tampered" not in changed.stdout + changed.stderr


def test_the_seed_pipeline_through_kinesis_reaches_the_same_warehouse(
    pipeline: Pipeline, kinesis_endpoint: str, aws_env: dict[str, str]
) -> None:
    """MariaDB -> Debezium -> Kafka -> DMS stand-in -> Kinesis -> the job -> PostgreSQL.

    Everything the module changed at the source (snapshot, bulk changes, deletes, poison
    on a topic) is forwarded as DMS records into a Kinesis stream; the job reads it into
    another schema, and verify compares that schema with the source.
    """
    pipeline.ensure_converged()  # the topics hold everything the source holds
    pipeline.stop_job()
    env = {**pipeline.env(), **aws_env}
    forwarder = subprocess.run(
        [sys.executable, "-m", "simulators.dms_forwarder", "--stream", "sports",
         "--endpoint-url", kinesis_endpoint, "--idle-exit", "10", "--max-duration", "300",
         "--source-host", HOST, "--source-port", str(PORT), "--source-user", USER],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert forwarder.returncode == 0, forwarder.stderr[-3000:]
    database = "{host: 127.0.0.1, port: 3307, user: cdc, password_env: SOURCE_PASSWORD}"
    overrides = [
        *[o for o in pipeline.overrides if not o.startswith(("checkpoint=", "target.schema="))],
        f"checkpoint={pipeline.work / 'kinesis-checkpoint'}",
        "target.schema=sports_kinesis",
        # One batch (--once) must read the whole stream: give each shard's fetch time.
        "source={kind: kinesis, stream: sports, database: " + database + ", "
        "options: {kinesis.executor.maxFetchTimeInMs: '120000'}}",
        f"aws={{endpoints: {{kinesis: '{kinesis_endpoint}'}}}}",
    ]
    log = pipeline.work / "kinesis-job.log"
    with log.open("wb") as out:
        job = subprocess.run(
            [str(REPO / "spark-submit.sh"), "jobs/stream_cdc.py", "--config", "conf/sports.yaml",
             "--once", *[a for o in overrides for a in ("--set", o)]],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=900, check=False,
        )  # fmt: skip
    assert job.returncode == 0, log.read_text(errors="replace")[-4000:]
    config = load_config(REPO / "conf" / "sports.yaml", overrides)
    source = pymysql.connect(host=HOST, port=PORT, user=USER, password=PASSWORD)
    target = pipeline.warehouse.settings.connect()
    try:
        differences = verify(pipeline.spark, config, source, target, Tokenization(KEY.encode()))
    finally:
        source.close()
        target.close()

    assert [d.line() for d in differences if not d.ok] == []
    assert "forwarded" in forwarder.stderr

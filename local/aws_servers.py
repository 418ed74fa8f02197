"""Local servers that speak the AWS APIs, on 127.0.0.1 only.

* Kinesis Data Streams: kinesis-local (the Node build of kinesis-mock), installed by
  `scripts/bootstrap.sh --dev` into .tools/aws/. Serves CBOR and JSON like the real
  service, so the Spark connector's AWS SDK talks to it unchanged.
* S3, Glue Data Catalog, Secrets Manager, Redshift Data API, STS, IAM: moto's server
  (`moto_server`, a dev dependency).

Code under test reaches them through an endpoint URL only; nothing else differs from
AWS. Usage: `python -m local.aws_servers up|down|status` (fixed ports below), or
`start_kinesis()` / `start_moto()` from tests (free ports, stopped by the caller).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINESIS_HOME = ROOT / ".tools" / "aws" / "node_modules" / "kinesis-local"
LOOPBACK_JS = ROOT / "local" / "aws" / "loopback.js"
HOST = "127.0.0.1"
KINESIS_PORT = 4568
MOTO_PORT = 5000
RUN = ROOT / "work" / "aws"
# Credentials the local servers accept; never real ones. kinesis-mock answers the Java
# SDK's CBOR requests with record data the SDK cannot read: it must speak JSON to it
# (AWS serves both).
LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CBOR_DISABLE": "true",
}
# The same switch as a system property of the connector's (relocated) AWS SDK, for a JVM
# that started before LOCAL_ENV was exported.
CBOR_DISABLE_PROPERTY = "org.apache.spark.sql.kinesis.shaded.amazonaws.sdk.disableCbor"


@dataclass
class Server:
    """A started server process and the endpoint URL that reaches it."""

    name: str
    process: subprocess.Popen[bytes]
    endpoint: str
    log: Path

    def stop(self, timeout_s: float = 10) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout_s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait_listening(server: Server, timeout_s: float) -> Server:
    deadline = time.monotonic() + timeout_s
    port = int(server.endpoint.rsplit(":", 1)[1])
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with code {server.process.returncode}; see {server.log}"
            )
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return server
        time.sleep(0.2)
    server.stop()
    raise TimeoutError(f"{server.name} did not listen on {HOST}:{port} in {timeout_s:.0f} s")


def start_kinesis(port: int | None = None, log_dir: Path = RUN, timeout_s: float = 60) -> Server:
    """kinesis-local on HOST:port (plain HTTP); its TLS port is another free port."""
    main_js = KINESIS_HOME / "main.js"
    if not main_js.exists():
        raise FileNotFoundError(
            f"{main_js} is missing: run scripts/bootstrap.sh --dev (installs it with npm)"
        )
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"kinesis-{port}.log"
    env = {
        **os.environ,
        "KINESIS_MOCK_PLAIN_PORT": str(port),
        "KINESIS_MOCK_TLS_PORT": str(free_port()),
        "LOG_LEVEL": "WARN",
        # Streams become ACTIVE after these delays on AWS; keep them short here.
        "CREATE_STREAM_DURATION": "200ms",
        "DELETE_STREAM_DURATION": "200ms",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["node", "--require", str(LOOPBACK_JS), str(main_js)],
            cwd=KINESIS_HOME,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return _wait_listening(Server("kinesis", process, f"http://{HOST}:{port}", log), timeout_s)


def start_moto(port: int | None = None, log_dir: Path = RUN, timeout_s: float = 60) -> Server:
    """moto's server (every service it emulates) on HOST:port."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"moto-{port}.log"
    moto = Path(sys.executable).with_name("moto_server")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(moto), "-H", HOST, "-p", str(port)],
            env={**os.environ, **LOCAL_ENV},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return _wait_listening(Server("moto", process, f"http://{HOST}:{port}", log), timeout_s)


def _pid_file(name: str) -> Path:
    return RUN / f"{name}.pid"


def _running(name: str) -> int | None:
    try:
        pid = int(_pid_file(name).read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.aws_servers",
        description=f"Local AWS-API servers: Kinesis on {HOST}:{KINESIS_PORT}, "
        f"moto (S3, Glue, Secrets Manager, Redshift Data API) on {HOST}:{MOTO_PORT}.",
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    starters = {"kinesis": (start_kinesis, KINESIS_PORT), "moto": (start_moto, MOTO_PORT)}
    for name, (start, port) in starters.items():
        pid = _running(name)
        if args.command == "up" and pid is None:
            server = start(port)
            _pid_file(name).write_text(str(server.process.pid))
            print(f"{name:8} up       {server.endpoint}  log {server.log.relative_to(ROOT)}")
        elif args.command == "up" or (args.command == "status" and pid):
            print(f"{name:8} running  http://{HOST}:{port}  pid {pid}")
        elif args.command == "down" and pid:
            os.killpg(pid, signal.SIGTERM)
            _pid_file(name).unlink()
            print(f"{name:8} stopped")
        else:
            print(f"{name:8} stopped")
    if args.command == "up":
        print("use: export " + " ".join(f"{k}={v}" for k, v in LOCAL_ENV.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

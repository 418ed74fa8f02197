"""A throwaway PostgreSQL server on 127.0.0.1 for the tests, from the Debian package."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sinks.redshift import ConnectionSettings


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(
            f"PostgreSQL's {name} not found: run scripts/install-system-deps.sh (Debian postgresql)"
        )
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the package's user."""
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


class PostgresServer:
    """A server in a temporary folder; `stop()` and `start()` simulate an outage."""

    def __init__(self) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="stream-cdc-pg-"))
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.data, user.pw_uid, user.pw_gid)
        self.port = _free_port()
        subprocess.run(
            _as_postgres(
                [_bin("initdb"), "-D", str(self.data / "db"), "-U", "warehouse",
                 "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )  # fmt: skip
        self.start()
        subprocess.run(
            [_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "warehouse",
             "warehouse"],
            check=True,
            capture_output=True,
        )  # fmt: skip
        self.settings = ConnectionSettings(
            dialect="postgres",
            host="127.0.0.1",
            port=self.port,
            database="warehouse",
            user="warehouse",
            password="unused-with-trust-auth",
        )

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.data}"
        )
        subprocess.run(
            _as_postgres(
                [_bin("pg_ctl"), "-D", str(self.data / "db"), "-o", options,
                 "-l", str(self.data / "log"), "-w", "-t", "60", "start"]
            ),
            check=True,
            capture_output=True,
        )  # fmt: skip

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([_bin("pg_ctl"), "-D", str(self.data / "db"), "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[ConnectionSettings]:
    server = PostgresServer()
    try:
        yield server.settings
    finally:
        server.remove()

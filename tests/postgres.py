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

from sinks.redshift.engine import ConnectionSettings


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


@contextmanager
def postgres_server() -> Iterator[ConnectionSettings]:
    data = Path(tempfile.mkdtemp(prefix="stream-cdc-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(data, user.pw_uid, user.pw_gid)
    port = _free_port()
    subprocess.run(
        _as_postgres(
            [
                _bin("initdb"),
                "-D",
                str(data / "db"),
                "-U",
                "warehouse",
                "--auth=trust",
                "-E",
                "UTF8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={data}"
    subprocess.run(
        _as_postgres(
            [_bin("pg_ctl"), "-D", str(data / "db"), "-o", options, "-l", str(data / "log"),
             "-w", "-t", "60", "start"]
        ),
        check=True,
        capture_output=True,
    )  # fmt: skip
    try:
        subprocess.run(
            [_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "warehouse", "warehouse"],
            check=True,
            capture_output=True,
        )
        yield ConnectionSettings(
            dialect="postgres",
            host="127.0.0.1",
            port=port,
            database="warehouse",
            user="warehouse",
            password="unused-with-trust-auth",
        )
    finally:
        subprocess.run(
            _as_postgres([_bin("pg_ctl"), "-D", str(data / "db"), "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)

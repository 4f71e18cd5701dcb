"""PostgreSQL for tests: a fresh database on the machine's server, or a private server we can stop."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2

SHARED = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database on the PostgreSQL at 127.0.0.1:5432 (dropped afterwards); yields its URL."""
    name = f"deepfake_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(dbname="postgres", **SHARED)  # type: ignore[arg-type]
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql://{SHARED['user']}@{SHARED['host']}:{SHARED['port']}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _pg_bin(tool: str) -> str:
    found = shutil.which(tool)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"))
    if not versions:
        raise RuntimeError(f"PostgreSQL's {tool} is not installed (Debian package postgresql)")
    return str(versions[-1])


class PrivateServer:
    """A PostgreSQL server of our own (initdb in a temp dir, own port) that a test may stop and restart."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *argv: str) -> None:
        # PostgreSQL refuses to run as root; the postgres account owns the data directory.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "server.log"), "-w",
                  "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def wait_accepting(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                psycopg2.connect(self.url, connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                time.sleep(0.2)
        raise TimeoutError("private PostgreSQL did not start")


@contextmanager
def private_server(port: int) -> Iterator[PrivateServer]:
    # Not under pytest's tmp_path: that is private to root (0700), and the server runs as postgres.
    directory = Path(tempfile.mkdtemp(prefix="deepfake-pg-"))
    server = PrivateServer(directory, port)
    server.init()
    server.start()
    server.wait_accepting()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped by the test
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)

"""What the benchmark scripts share: the server under test as its own process, the machine, the test data."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.config import REPO_ROOT

DATA = REPO_ROOT.parent / "shared" / "data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """``python -m <module>`` on a free port, as ``make run`` starts the server. ``workdir`` (temporary, removed
    on exit) holds its log, ``server.log``, and for the real server a private SQLite prediction log and spool."""

    module: str = "server"
    extra_args: Sequence[str] = ()
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="deepfake-bench-")))
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def database(self) -> Path:
        return self.workdir / "predictions.db"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", self.module, "--port", str(self.port)]
        if self.module == "server":
            argv += ["--metrics-port", "0", "--database-url", f"sqlite:///{self.database}",
                     "--spool-dir", str(self.workdir / "spool")]
        return argv + list(self.extra_args)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> ServerProcess:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=log)
        self._wait_ready()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def stop(self) -> int:
        """SIGTERM (health NOT_SERVING, in-flight requests finish, the prediction log is flushed), then wait."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def _wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as channel:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.module} exited: {self.log_path.read_text(errors='replace')[-2000:]}")
                try:  # not channel_ready_future: its polling thread complains when the channel closes
                    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
                    if status.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError as error:
                    if error.code() == grpc.StatusCode.UNIMPLEMENTED:  # the naive server has no health service
                        return
                time.sleep(0.2)
        raise TimeoutError(f"{self.module} did not become ready")

    def cpu_seconds(self) -> float:
        """CPU time (user + system, all threads) the server has used so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> tuple[float, float]:
        """Resident set size now and at its peak (VmHWM), in MiB."""
        assert self.proc is not None
        values: dict[str, float] = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]

    def prediction_records(self) -> int:
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            return int(db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])


def face_crops(count: int = 64) -> list[bytes]:
    """DFDC face crops, half real and half fake, in a fixed shuffled order."""
    paths = sorted((DATA / "dfdc-faces" / "real").glob("*.jpg"))[: count // 2]
    paths += sorted((DATA / "dfdc-faces" / "fake").glob("*.jpg"))[: count - len(paths)]
    random.Random(0).shuffle(paths)
    return [p.read_bytes() for p in paths]


def photos() -> list[bytes]:
    """The shared full-size photos (one or several faces each)."""
    return [p.read_bytes() for p in sorted((DATA / "photos").glob("*.jpg"))]


def busy_fraction(seconds: float = 2.0) -> float:
    """Share of all CPU time that something was using over ``seconds`` (0 on an idle machine)."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def wait_until_quiet(limit: float = 0.1, timeout: float = 120.0) -> float:
    """Wait (up to ``timeout``) until other work uses under ``limit`` of the CPUs; return the last reading.
    Numbers measured beside another job on a 2-core machine are not worth printing without saying so."""
    deadline = time.monotonic() + timeout
    busy = busy_fraction()
    while busy >= limit and time.monotonic() < deadline:
        busy = busy_fraction()
    return busy


def machine() -> str:
    """CPU, library versions, load and time: the line every report starts with."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}"
                         for name in ("torch", "onnxruntime", "grpcio", "pillow"))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} CPUs; Python {platform.python_version()}, {versions}; load average "
            f"{load} at the start; {time.strftime('%Y-%m-%d %H:%M')}")


def quiet_machine() -> str:
    """Wait until the machine is quiet, then describe it; a warning is part of the line when it never was."""
    busy = wait_until_quiet()
    if busy >= 0.1:
        return machine() + f"; WARNING: other work used {busy:.0%} of the CPUs at the start, so the numbers are low"
    return machine() + f"; CPUs {busy:.0%} busy just before the run"


class Report:
    """Report lines: printed as they come, kept to be written to a file at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

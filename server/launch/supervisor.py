"""Runs the gRPC server and Envoy as child processes and stops them together.

Children get their own process group, so a Ctrl-C in the terminal reaches only this supervisor, which
then shuts down in order: Envoy stops taking new connections, the servers drain their in-flight requests
(SIGTERM), Envoy exits. Children are also told by the kernel to die if the supervisor dies (no strays).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger("launch")

PR_SET_PDEATHSIG = 1
MAX_RESTARTS = 5  # per RESTART_WINDOW_S, across replicas, before the supervisor gives up
RESTART_WINDOW_S = 60.0


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM this child when the supervisor exits, however it exits."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env={**os.environ, **self.env}, start_new_session=True,
                                     preexec_fn=_die_with_parent)  # only calls prctl: safe after fork
        log.info("started %s (pid %d)", self.name, self.proc.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    def terminate(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s; killing it", self.name, timeout)
            self.proc.kill()
            return self.proc.wait(5)


class Supervisor:
    def __init__(self, servers: Sequence[Child], envoy: Child, admin_port: int, grace_s: float) -> None:
        self.servers = list(servers)
        self.envoy = envoy
        self.admin_port = admin_port
        self.grace_s = grace_s
        self._stop = threading.Event()

    def run(self, ready: Callable[[], bool], on_ready: Callable[[], None]) -> int:
        """Start everything, announce readiness, and supervise until a signal or a child's death."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, _frame: self._request_stop(signum))
        for child in [*self.servers, self.envoy]:
            child.start()
        announced = False
        exit_code = 0
        restarts: list[float] = []
        while not self._stop.is_set():
            if not self.envoy.alive():
                log.error("envoy exited unexpectedly (code %s); stopping", self.envoy.returncode)
                exit_code = 1
                break
            for server in [s for s in self.servers if not s.alive()]:
                # A crashed replica is restarted; Envoy's health checks keep traffic away until it is ready.
                restarts = [t for t in restarts if time.monotonic() - t < RESTART_WINDOW_S] + [time.monotonic()]
                if len(restarts) > MAX_RESTARTS:
                    log.error("%s keeps crashing (%d restarts in %.0f s); stopping", server.name, MAX_RESTARTS,
                              RESTART_WINDOW_S)
                    self._stop.set()
                    exit_code = 1
                    break
                log.error("%s exited unexpectedly (code %s); restarting it", server.name, server.returncode)
                server.start()
            if not announced and ready():
                announced = True
                on_ready()
            self._stop.wait(0.5)
        self.shutdown()
        return exit_code

    def _request_stop(self, signum: int) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        self._stop.set()

    def shutdown(self) -> None:
        # 1. Envoy stops accepting new connections but keeps serving the ones it has.
        with contextlib.suppress(OSError):
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{self.admin_port}/drain_listeners?graceful&inboundonly", method="POST"), timeout=2)
        # 2. Servers drain their in-flight requests (health turns NOT_SERVING first).
        for server in self.servers:
            server.terminate()
        deadline = time.monotonic() + self.grace_s + 5
        for server in self.servers:
            server.wait(max(1.0, deadline - time.monotonic()))
        # 3. Then Envoy goes.
        self.envoy.terminate()
        self.envoy.wait(10)
        log.info("stopped")

"""`make run`'s launcher: server + Envoy come up together and Ctrl-C (or SIGTERM) stops both, no strays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO
from tests.integration.gateway import free_port


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_launcher_runs_and_stops_server_and_envoy(sig: signal.Signals, photos_dir: Path) -> None:
    http, grpc_port, admin = free_port(), free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "server.launch", "--port", str(grpc_port), "--http-port", str(http),
                             "--envoy-admin-port", str(admin), "--log-format", "text"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{http}/health", timeout=2).json().get("model_loaded"):
                    break
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the service did not come up")
        kids = children(proc.pid)
        assert len(kids) == 2, "one gRPC server and one Envoy"
        with open(photos_dir / "multiface.jpg", "rb") as fh:
            r = requests.post(f"http://127.0.0.1:{http}/predict", files={"file": fh}, timeout=60)
        assert r.status_code == 200 and len(r.json()["faces"]) == 6
        proc.send_signal(sig)
        assert proc.wait(60) == 0
        output = proc.stdout.read() if proc.stdout else ""
        assert "ready: web UI and REST at http://localhost:" in output
        assert not [k for k in kids if alive(k)], "no stray processes"
    finally:
        if proc.poll() is None:
            proc.kill()

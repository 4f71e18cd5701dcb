"""``python -m server.probe``: is the local gRPC server SERVING? For container health checks.

    python -m server.probe --port 50051                      # the detector (model loaded and warmed)
    python -m server.probe --port 50051 --service ""         # the process as a whole

Calls the standard ``grpc.health.v1.Health/Check`` and prints one line. Exit status 0 when the answer is
SERVING, 1 otherwise (NOT_SERVING while the model loads or the server drains, an unknown service name, no
answer within ``--timeout``). It imports grpc and the health stubs only, never torch or the server's own
modules, so a Docker HEALTHCHECK running it every few seconds costs a fraction of a second.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

# The full name of deepfake.v1.DeepfakeDetector; spelled out so the probe needs no generated detector
# stubs (a test checks it against them).
DETECTOR_SERVICE = "deepfake.v1.DeepfakeDetector"
SERVING = health_pb2.HealthCheckResponse.SERVING


@dataclass(frozen=True)
class ProbeResult:
    healthy: bool
    status: str  # SERVING, NOT_SERVING, ... or the gRPC error code name (UNAVAILABLE, DEADLINE_EXCEEDED, ...)
    detail: str = ""

    def line(self, target: str, service: str) -> str:
        name = service or '""'
        suffix = f": {self.detail}" if self.detail else ""
        return f"{self.status} {name} at {target}{suffix}"


def check(target: str, service: str = DETECTOR_SERVICE, timeout_s: float = 2.0) -> ProbeResult:
    """One health Check call against ``target`` (HOST:PORT)."""
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as exc:  # the server is down, too slow, or does not know the service
            code = exc.code() if isinstance(exc, grpc.Call) else None
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            return ProbeResult(False, code.name if code is not None else "ERROR", details or "")
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    return ProbeResult(response.status == SERVING, status)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m server.probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address of the gRPC server [127.0.0.1]")
    p.add_argument("--port", type=int, default=50051, help="gRPC port [50051]")
    p.add_argument("--service", default=DETECTOR_SERVICE,
                   help=f'service name to check; "" for the whole server [{DETECTOR_SERVICE}]')
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the answer [2]")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not 0 < args.port < 65536 or args.timeout <= 0:
        print("probe: --port must be 1-65535 and --timeout positive", file=sys.stderr)
        return 2
    host = f"[{args.host}]" if ":" in args.host and not args.host.startswith("[") else args.host  # IPv6
    target = f"{host}:{args.port}"
    result = check(target, args.service, args.timeout)
    print(result.line(target, args.service), flush=True)
    return 0 if result.healthy else 1


if __name__ == "__main__":
    sys.exit(main())

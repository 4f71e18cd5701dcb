"""server/probe.py, the container health check: against a real grpc.health.v1 server on a free port."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from deepfake.v1 import detector_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from server import probe
from tests.deploy.helpers import REPO, free_port


@pytest.fixture(scope="module")
def health_server() -> Iterator[tuple[int, health.HealthServicer]]:
    """A gRPC server with only the standard health service, as the real server registers it."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port, servicer
    server.stop(0)


def test_service_name_matches_the_stubs() -> None:
    assert detector_pb2.DESCRIPTOR.services_by_name["DeepfakeDetector"].full_name == probe.DETECTOR_SERVICE


def test_serving_exits_0(health_server: tuple[int, health.HealthServicer], capsys: pytest.CaptureFixture[str]) -> None:
    port, servicer = health_server
    servicer.set(probe.DETECTOR_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    assert probe.main(["--port", str(port)]) == 0
    assert capsys.readouterr().out == f"SERVING deepfake.v1.DeepfakeDetector at 127.0.0.1:{port}\n"


def test_not_serving_exits_1(health_server: tuple[int, health.HealthServicer],
                             capsys: pytest.CaptureFixture[str]) -> None:
    port, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)  # e.g. loading the model, or draining
    assert probe.main(["--port", str(port), "--service", ""]) == 1
    assert capsys.readouterr().out.startswith('NOT_SERVING "" at ')


def test_unknown_service_exits_1(health_server: tuple[int, health.HealthServicer]) -> None:
    port, _ = health_server
    result = probe.check(f"127.0.0.1:{port}", "no.such.Service", 2.0)
    assert not result.healthy and result.status == "NOT_FOUND"


def test_nothing_listening_exits_1_quickly(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert probe.main(["--port", str(free_port()), "--timeout", "2"]) == 1
    assert time.monotonic() - started < 3
    assert capsys.readouterr().out.startswith("UNAVAILABLE deepfake.v1.DeepfakeDetector at 127.0.0.1:")


def test_bad_arguments_exit_2() -> None:
    assert probe.main(["--port", "0"]) == 2
    assert probe.main(["--timeout", "0"]) == 2


def test_module_entry_point_is_light(health_server: tuple[int, health.HealthServicer]) -> None:
    """`python -m server.probe` as the HEALTHCHECK runs it: right exit code, one line, and no torch (or any
    other server module) imported, so it stays cheap to run every few seconds."""
    port, servicer = health_server
    servicer.set(probe.DETECTOR_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    code = ("import runpy, sys; sys.argv = ['probe', '--port', sys.argv[1]]\n"
            "try:\n    runpy.run_module('server.probe', run_name='__main__')\n"
            "except SystemExit as e:\n    status = e.code\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'numpy', 'PIL', 'peewee'}"
            " or (m.startswith('server.') and m != 'server.probe'))\n"
            "print('heavy:', heavy); sys.exit(status)")
    result = subprocess.run([sys.executable, "-c", code, str(port)], cwd=REPO, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"SERVING deepfake.v1.DeepfakeDetector at 127.0.0.1:{port}"
    assert lines[1] == "heavy: []"

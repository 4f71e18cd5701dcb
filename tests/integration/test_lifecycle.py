"""Start-up and shutdown: health follows the model's state, SIGTERM lets in-flight requests finish."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.app import create_server
from server.config import Config
from server.service import DetectionService
from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_serving(channel: grpc.Channel, timeout: float = 120.0) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = health.Check(health_pb2.HealthCheckRequest(), timeout=2).status
            if status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server did not become SERVING")


def test_not_serving_and_unavailable_until_the_model_is_loaded() -> None:
    running = create_server(Config(port=0), DetectionService(Config(port=0)))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.NOT_SERVING
            stub = detector_pb2_grpc.DeepfakeDetectorStub(channel)
            assert stub.Health(pb.HealthRequest(), timeout=5).status == "starting"
            with pytest.raises(grpc.RpcError) as info:
                stub.Predict(pb.PredictRequest(image=b"x"), timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "not ready" in info.value.details()
    finally:
        running.server.stop(0)


def test_sigterm_drains_in_flight_requests(photos_dir: Path) -> None:
    port = free_port()
    env = {**os.environ, "DEEPFAKE_PORT": str(port), "DEEPFAKE_LOG_FORMAT": "json"}
    proc = subprocess.Popen([sys.executable, "-m", "server", "--grace-s", "20"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}",
                                   options=[("grpc.max_send_message_length", 16 << 20)]) as channel:
            wait_serving(channel)
            stub = detector_pb2_grpc.DeepfakeDetectorStub(channel)
            data = (photos_dir / "multiface.jpg").read_bytes()
            results: list[object] = []

            def call() -> None:
                try:
                    results.append(stub.Predict(pb.PredictRequest(image=data, explain=True), timeout=60))
                except grpc.RpcError as exc:
                    results.append(exc)

            threads = [threading.Thread(target=call) for _ in range(3)]
            for t in threads:
                t.start()
            time.sleep(0.3)  # the requests are in flight
            proc.send_signal(signal.SIGTERM)
            for t in threads:
                t.join(60)
        assert proc.wait(60) == 0
        assert all(isinstance(r, pb.PredictResponse) and len(r.faces) == 6 for r in results), results
        logs = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
        messages = [entry["msg"] for entry in logs]
        assert any("received SIGTERM" in m for m in messages) and messages[-1] == "stopped"
        predictions = [e for e in logs if e.get("rpc", "").endswith("/Predict")]
        assert len(predictions) == 3 and all(e["code"] == "OK" and e["request_id"] for e in predictions)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "tensorrt"], "needs an NVIDIA GPU with CUDA"),
    (["--weights", "/nonexistent"], "model spec not found"),
    (["--port", "x"], "port: expected int"),
])
def test_misconfiguration_exits_with_a_clear_message(args: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "server", "--port", "0", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.stderr

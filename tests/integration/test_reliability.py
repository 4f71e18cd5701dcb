"""Overload, deadlines, cancellation, a replica killed under load, and shutdown without loss."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
import requests
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from server.app import SERVICE_NAME, RunningServer
from tests.conftest import REPO
from tests.integration.gateway import Envoy, free_port, settings_for
from tests.integration.test_launcher import children
from tests.integration.test_lifecycle import wait_serving
from tests.integration.test_security import start
from tests.unit.test_storage import wait_for


@pytest.fixture(scope="module")
def narrow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server that admits one prediction at a time."""
    running = start(tmp_path_factory.mktemp("narrow"), max_in_flight=1, grpc_workers=4)
    yield running
    running.stop(1.0)


def block_worker(server: RunningServer, seconds: float) -> None:
    """Keep the inference thread busy, as a long batch would."""
    server.service.worker.call(lambda: time.sleep(seconds))


def test_overload_is_refused_at_once_with_retry_after(narrow: RunningServer, tmp_path: Path, dfdc_dir: Path) -> None:
    crop = next((dfdc_dir / "real").iterdir()).read_bytes()
    request = pb.PredictRequest(image=crop, is_face_crop=True)
    with grpc.insecure_channel(f"127.0.0.1:{narrow.port}") as ch:
        stub = detector_pb2_grpc.DeepfakeDetectorStub(ch)
        block_worker(narrow, 1.5)
        admitted = stub.Predict.future(request, timeout=30)
        time.sleep(0.2)
        started = time.perf_counter()
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request, timeout=30)
        assert time.perf_counter() - started < 0.5, "refused at once, not queued"
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert ("retry-after", "1") in info.value.trailing_metadata()
        assert admitted.result().prediction in ("Real", "Deepfake")
    with Envoy(settings_for(narrow.port), tmp_path) as envoy:
        block_worker(narrow, 1.5)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(requests.post, f"{envoy.url}/v1/predict:upload?is_face_crop=true", data=crop,
                                timeout=30)
            time.sleep(0.2)
            second = requests.post(f"{envoy.url}/v1/predict:upload?is_face_crop=true", data=crop, timeout=30)
            assert first.result().status_code == 200
        assert second.status_code == 429
        assert second.headers["retry-after"] == "1" and "capacity" in second.json()["message"]


def test_expired_and_cancelled_requests_never_reach_the_model(narrow: RunningServer, dfdc_dir: Path) -> None:
    crop = next((dfdc_dir / "fake").iterdir()).read_bytes()
    stats = narrow.service.worker.stats
    before = stats.skipped
    with grpc.insecure_channel(f"127.0.0.1:{narrow.port}") as ch:
        stub = detector_pb2_grpc.DeepfakeDetectorStub(ch)
        block_worker(narrow, 1.0)
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(pb.PredictRequest(image=crop, is_face_crop=True), timeout=0.3)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        wait_for(lambda: stats.skipped == before + 1)
        block_worker(narrow, 1.0)
        call = stub.Predict.future(pb.PredictRequest(image=crop, is_face_crop=True), timeout=30)
        time.sleep(0.2)
        call.cancel()
        wait_for(lambda: stats.skipped == before + 2)
        assert stub.Predict(pb.PredictRequest(image=crop, is_face_crop=True), timeout=30).prediction


def test_killing_a_replica_under_load_fails_no_request(dfdc_dir: Path, tmp_path: Path) -> None:
    http, grpc_port, admin = free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.launch", "--replicas", "2", "--port", str(grpc_port), "--http-port", str(http),
         "--envoy-admin-port", str(admin), "--metrics-port", "0", "--rate-limit-rps", "1000",
         "--rate-limit-burst", "1000", "--database-url", f"sqlite:///{tmp_path / 'p.db'}",
         "--spool-dir", str(tmp_path / "spool")],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    crops = [p.read_bytes() for p in sorted((dfdc_dir / "real").iterdir())[:20]]
    try:
        def healthy_replicas() -> int:
            try:
                clusters = requests.get(f"http://127.0.0.1:{admin}/clusters", timeout=2).text
            except requests.RequestException:
                return 0
            return sum(1 for line in clusters.splitlines() if line.endswith("::health_flags::healthy"))

        wait_for(lambda: healthy_replicas() == 2, timeout=180)
        replica_pids = [pid for pid in children(proc.pid)
                        if b"-m\0server\0" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(replica_pids) == 2, replica_pids
        stop = time.monotonic() + 12
        outcomes: list[int] = []

        def client(i: int) -> None:
            n = i
            while time.monotonic() < stop:
                r = requests.post(f"http://127.0.0.1:{http}/v1/predict:upload?is_face_crop=true",
                                  data=crops[n % len(crops)], timeout=60)
                outcomes.append(r.status_code)
                n += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(4)
        victim = replica_pids[0]
        os.kill(victim, signal.SIGKILL)
        for t in threads:
            t.join()
        assert len(outcomes) > 30
        assert [c for c in outcomes if c != 200] == [], "no request failed while a replica was killed"
        wait_for(lambda: healthy_replicas() == 2, timeout=120)  # the supervisor restarted it
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def test_sigterm_loses_no_prediction_record(tmp_path: Path, dfdc_dir: Path) -> None:
    port = free_port()
    db = tmp_path / "p.db"
    server_log = tmp_path / "server.log"
    with open(server_log, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "server", "--port", str(port), "--metrics-port", "0",
                                 "--database-url", f"sqlite:///{db}", "--spool-dir", str(tmp_path / "spool")],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=log_file)
    crops = [p.read_bytes() for p in sorted((dfdc_dir / "fake").iterdir())[:40]]
    answered: list[str] = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            wait_serving(channel)
            stub = detector_pb2_grpc.DeepfakeDetectorStub(channel)

            def send(data: bytes) -> None:
                with contextlib.suppress(grpc.RpcError):  # refused after the signal: nothing to record
                    answered.append(stub.Predict(pb.PredictRequest(image=data, is_face_crop=True),
                                                 timeout=60).prediction_id)
                if len(answered) == 20:
                    proc.send_signal(signal.SIGTERM)  # with several requests still in flight

            with ThreadPoolExecutor(6) as pool:  # below max_in_flight: none is refused for capacity
                list(pool.map(send, crops))
        try:
            assert proc.wait(60) == 0
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # the server dumps every thread's stack: what it is stuck on
            time.sleep(2)
            pytest.fail("the server did not exit within 60 s of SIGTERM:\n" + server_log.read_text()[-6000:])
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(answered) >= 20
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("SELECT id FROM predictions")}
    assert set(answered) <= stored, "every answered prediction was recorded before the process exited"


class _AlwaysInternal(detector_pb2_grpc.DeepfakeDetectorServicer):
    """A server that is up (health SERVING) but answers every prediction with INTERNAL."""

    def Predict(self, request: pb.PredictRequest, context: grpc.ServicerContext) -> pb.PredictResponse:  # noqa: N802
        context.abort(grpc.StatusCode.INTERNAL, "Internal error.")


def test_application_errors_do_not_eject_the_server(tmp_path: Path) -> None:
    """Envoy's outlier detection ejects a replica for connection failures only: answers the server sends, INTERNAL
    (HTTP 500) included, must not take it out (found by the hostile-input corpus: five 500s in a row ejected the
    only server, and every request got 503 for 10 s)."""
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    detector_pb2_grpc.add_DeepfakeDetectorServicer_to_server(_AlwaysInternal(), server)
    health_servicer = health.HealthServicer()
    health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with Envoy(settings_for(port), tmp_path) as envoy:
            codes = [requests.post(f"{envoy.url}/v1/predict", json={"image": "AAAA"}, timeout=10).status_code
                     for _ in range(12)]
            time.sleep(2.5)  # one outlier detection interval
            codes += [requests.post(f"{envoy.url}/v1/predict", json={"image": "AAAA"}, timeout=10).status_code
                      for _ in range(3)]
            ejections = envoy.admin("/stats?filter=outlier_detection.ejections_active")
    finally:
        server.stop(0)
    assert codes == [500] * 15, codes  # 503 would mean the server was ejected
    assert "ejections_active: 0" in ejections, ejections

"""Prediction history over gRPC and REST, the /metrics endpoint, and a real Prometheus scraping both
the server and Envoy."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc

from server.app import RunningServer
from tests.integration.gateway import Envoy, free_port
from tests.unit.test_storage import wait_for

Stub = detector_pb2_grpc.DeepfakeDetectorStub


def history_ids(stub: Stub, **filters: object) -> list[str]:
    return [r.id for r in stub.ListPredictions(pb.ListPredictionsRequest(**filters), timeout=30).predictions]


def test_every_prediction_is_recorded_and_can_be_fetched(stub: Stub, photos_dir: Path) -> None:
    response = stub.Predict(pb.PredictRequest(image=(photos_dir / "multiface.jpg").read_bytes(),
                                              filename="../../etc/passwd"), timeout=60)
    assert len(response.prediction_id) == 32
    wait_for(lambda: response.prediction_id in history_ids(stub))
    record = stub.GetPrediction(pb.GetPredictionRequest(id=response.prediction_id), timeout=30)
    assert record.filename == "passwd", "path-like file names are sanitised before they are stored"
    assert record.request_id == response.request_id and record.image_sha256 == response.image_sha256
    assert (record.image_width, record.image_height, record.image_format) == (1200, 630, "JPEG")
    assert record.prediction == response.prediction and len(record.faces) == 6
    assert record.verdict == response.verdict
    assert [f.verdict for f in record.faces] == [f.verdict for f in response.faces]
    assert record.fake_probability == pytest.approx(response.fake_probability)
    assert record.model == "efficientnet_lite0-dfdc" and len(record.weights_sha256) == 64
    assert record.engine == "onnxruntime" and record.client == "127.0.0.1" and record.latency_ms > 0
    assert record.created_at.endswith("Z")


def test_history_filters_and_errors_over_grpc(stub: Stub, photos_dir: Path) -> None:
    for name in ("angelina_jolie.jpg", "kate_siegel.jpg"):
        stub.Predict(pb.PredictRequest(image=(photos_dir / name).read_bytes(), filename=name), timeout=60)
    wait_for(lambda: len(history_ids(stub)) >= 2)
    page = stub.ListPredictions(pb.ListPredictionsRequest(page_size=1), timeout=30)
    assert len(page.predictions) == 1 and page.next_page_token
    following = stub.ListPredictions(pb.ListPredictionsRequest(page_size=1, page_token=page.next_page_token),
                                     timeout=30)
    assert following.predictions[0].id != page.predictions[0].id
    for verdict in ("Real", "Deepfake", "Uncertain"):
        listed = stub.ListPredictions(pb.ListPredictionsRequest(verdict=verdict, page_size=500), timeout=30)
        assert {r.verdict for r in listed.predictions} <= {verdict}
    assert not history_ids(stub, start_time="2999-01-01T00:00:00Z")
    for bad in ({"verdict": "Fake"}, {"page_size": 1000}, {"end_time": "soon"}):
        with pytest.raises(grpc.RpcError) as info:
            stub.ListPredictions(pb.ListPredictionsRequest(**bad), timeout=30)  # type: ignore[arg-type]
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as info:
        stub.GetPrediction(pb.GetPredictionRequest(id="f" * 32), timeout=30)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_history_over_rest(gateway: Envoy, photos_dir: Path) -> None:
    with open(photos_dir / "paul_rudd.jpg", "rb") as fh:
        made = requests.post(f"{gateway.url}/predict", files={"file": fh}, timeout=60).json()
    wait_for(lambda: any(r["id"] == made["prediction_id"] for r in requests.get(
        f"{gateway.url}/v1/predictions?page_size=50", timeout=10).json()["predictions"]))
    listed = requests.get(f"{gateway.url}/v1/predictions?verdict={made['prediction']}&page_size=2", timeout=10)
    assert listed.status_code == 200 and len(listed.json()["predictions"]) <= 2
    one = requests.get(f"{gateway.url}/v1/predictions/{made['prediction_id']}", timeout=10)
    assert one.status_code == 200 and one.json()["filename"] == "paul_rudd.jpg"
    missing = requests.get(f"{gateway.url}/v1/predictions/{'f' * 32}", timeout=10)
    assert missing.status_code == 404 and "No prediction" in missing.json()["message"]
    bad = requests.get(f"{gateway.url}/v1/predictions?verdict=maybe", timeout=10)
    assert bad.status_code == 400 and "verdict" in bad.json()["message"]


@pytest.fixture(scope="module")
def metrics_url(served: RunningServer) -> Iterator[str]:
    assert served.service.metrics is not None
    port = free_port()
    server = served.service.metrics.serve("127.0.0.1", port)
    yield f"http://127.0.0.1:{port}/metrics"
    server.shutdown()


def test_metrics_endpoint_counts_what_happened(stub: Stub, metrics_url: str, photos_dir: Path) -> None:
    stub.Predict(pb.PredictRequest(image=(photos_dir / "multiface.jpg").read_bytes(), explain=True), timeout=60)
    with pytest.raises(grpc.RpcError):
        stub.Predict(pb.PredictRequest(image=b"garbage"), timeout=30)
    text = requests.get(metrics_url, timeout=10).text
    for series in (
        'deepfake_requests_total{code="OK",method="/deepfake.v1.DeepfakeDetector/Predict"}',
        'deepfake_requests_total{code="INVALID_ARGUMENT",method="/deepfake.v1.DeepfakeDetector/Predict"}',
        'deepfake_stage_duration_seconds_bucket{le="0.005",stage="gradcam"}',
        'deepfake_faces_per_image_bucket{le="6.0"}',
        'deepfake_predictions_total{verdict="Real"}',
        'deepfake_fake_probability_bucket{le="0.1"}',
        "deepfake_requests_in_flight ",
        "deepfake_inference_batch_size_count ",
        "deepfake_prediction_log_spool_records 0.0",
        "deepfake_prediction_log_queue_records ",
        "deepfake_prediction_log_write_failures_total 0.0",
        'deepfake_model_info{device="cpu",engine="onnxruntime",model="efficientnet_lite0-dfdc"',
        "deepfake_inference_queue_depth 0.0",
    ):
        assert series in text, series


def test_real_prometheus_scrapes_server_and_envoy(gateway: Envoy, metrics_url: str, tmp_path: Path,
                                                  photos_dir: Path) -> None:
    prometheus = shutil.which("prometheus")
    assert prometheus, "Debian package prometheus is required (make system-deps installs it)"
    server_target = urllib.parse.urlparse(metrics_url).netloc
    envoy_admin = urllib.parse.urlparse(gateway.admin_url).netloc
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: deepfake-server
    static_configs: [{{targets: ["{server_target}"]}}]
  - job_name: envoy
    metrics_path: /stats/prometheus
    static_configs: [{{targets: ["{envoy_admin}"]}}]
""")
    port = free_port()
    proc = subprocess.Popen([prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        with open(photos_dir / "kate_siegel.jpg", "rb") as fh:
            assert requests.post(f"{gateway.url}/predict", files={"file": fh}, timeout=60).status_code == 200

        def value(query: str) -> float:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query},
                                      timeout=5).json()
            except requests.RequestException:
                return 0.0
            results = answer.get("data", {}).get("result", [])
            return sum(float(r["value"][1]) for r in results)

        wait_for(lambda: value('sum(deepfake_predictions_total)') >= 1, timeout=60)
        wait_for(lambda: value('sum(envoy_cluster_upstream_rq_total{envoy_cluster_name="deepfake_grpc"})') >= 1,
                 timeout=30)
        assert value('count(up == 1)') == 2, "both targets are up"
        assert value("sum(deepfake_model_info)") == 1
    finally:
        proc.terminate()
        proc.wait(10)
        time.sleep(0.1)

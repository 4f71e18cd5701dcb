"""REST and native gRPC through a real Envoy in front of the real server (curl-equivalent requests)."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
import yaml
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from PIL import Image

from server.app import RunningServer
from tests.conftest import REPO
from tests.integration.gateway import Envoy, free_port, settings_for

ORIGINAL_FIELDS = {"prediction", "confidence", "explanation", "filename", "model", "device", "grad_cam_available"}
TEN_MB = 10 * 1024 * 1024


def over_limit_jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0" + b"\0" * (TEN_MB + 200_000)


def test_original_app_routes(gateway: Envoy, photos_dir: Path) -> None:
    health = requests.get(f"{gateway.url}/health", timeout=10)
    assert health.status_code == 200
    assert health.json() == {"status": "healthy", "app": "Deepfake Detection API", "version": "0.1.0",
                             "model_loaded": True}
    info = requests.get(f"{gateway.url}/model-info", timeout=10).json()
    assert info["model_name"] == "efficientnet_lite0-dfdc" and info["total_parameters"] > 3_000_000
    assert info["metrics"]["auc"] > 0.8

    with open(photos_dir / "paul_rudd.jpg", "rb") as fh:
        r = requests.post(f"{gateway.url}/predict", files={"file": ("paul_rudd.jpg", fh, "image/jpeg")}, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body.keys() >= ORIGINAL_FIELDS
    assert body["prediction"] in ("Real", "Deepfake") and 50 <= body["confidence"] <= 100
    assert body["filename"] == "paul_rudd.jpg" and body["grad_cam_available"] is False
    assert body["heatmap_png"] == "" and len(body["faces"]) == 1
    assert r.headers["x-request-id"] == body["request_id"], "Envoy's request id reaches the server"


def test_multipart_with_grad_cam(gateway: Envoy, photos_dir: Path) -> None:
    with open(photos_dir / "multiface.jpg", "rb") as fh:
        r = requests.post(f"{gateway.url}/predict?explain=true", files={"file": ("group.jpg", fh, "image/jpeg")},
                          timeout=60)
    body = r.json()
    assert r.status_code == 200 and body["grad_cam_available"] is True and len(body["faces"]) == 6
    heatmap = Image.open(io.BytesIO(base64.b64decode(body["heatmap_png"])))
    assert heatmap.format == "PNG" and max(heatmap.size) == 768


def test_raw_upload_and_json_routes_agree(gateway: Envoy, photos_dir: Path) -> None:
    data = (photos_dir / "kate_siegel.jpg").read_bytes()
    raw = requests.post(f"{gateway.url}/v1/predict:upload?filename=kate.jpg", data=data,
                        headers={"content-type": "image/jpeg"}, timeout=60)
    as_json = requests.post(f"{gateway.url}/v1/predict", timeout=60,
                            json={"image": base64.b64encode(data).decode(), "filename": "kate.jpg"})
    assert raw.status_code == as_json.status_code == 200
    assert raw.json()["filename"] == as_json.json()["filename"] == "kate.jpg"
    assert raw.json()["image_sha256"] == as_json.json()["image_sha256"]
    assert raw.json()["fake_probability"] == pytest.approx(as_json.json()["fake_probability"], abs=1e-6)


def test_face_crop_flag_as_query_parameter(gateway: Envoy, dfdc_dir: Path) -> None:
    crop = next((dfdc_dir / "fake").iterdir()).read_bytes()
    r = requests.post(f"{gateway.url}/v1/predict:upload?is_face_crop=true", data=crop,
                      headers={"content-type": "image/jpeg"}, timeout=60)
    assert r.status_code == 200 and r.json()["face_found"] is False


@pytest.mark.parametrize("route", ["multipart", "raw", "chunked", "json"])
def test_bodies_over_10_mb_get_413_json(gateway: Envoy, route: str) -> None:
    data = over_limit_jpeg()
    url = gateway.url
    if route == "multipart":
        r = requests.post(f"{url}/predict", files={"file": ("big.jpg", data, "image/jpeg")}, timeout=60)
    elif route == "raw":
        r = requests.post(f"{url}/v1/predict:upload", data=data, headers={"content-type": "image/jpeg"}, timeout=60)
    elif route == "chunked":
        chunks = (data[i:i + 65536] for i in range(0, len(data), 65536))
        r = requests.post(f"{url}/v1/predict:upload", data=chunks, headers={"content-type": "image/jpeg"}, timeout=60)
    else:
        r = requests.post(f"{url}/v1/predict", json={"image": base64.b64encode(data).decode()}, timeout=60)
    assert r.status_code == 413
    assert r.json()["message"].startswith("The upload is larger than the size limit")


@pytest.mark.parametrize(("files", "message"), [
    ({"file": ("notes.txt", b"hello", "text/plain")}, "not a JPEG, PNG or WebP"),
    ({"file": ("cut.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg")}, "truncated or corrupt"),
    ({"image": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}, "file"),
])
def test_bad_uploads_are_400_with_a_readable_message(gateway: Envoy, files: dict[str, tuple[str, bytes, str]],
                                                      message: str) -> None:
    r = requests.post(f"{gateway.url}/predict", files=files, timeout=30)
    assert r.status_code == 400
    body = r.json()
    assert message in body["message"] and "Traceback" not in r.text


def test_unknown_routes_and_parameters_are_json_errors(gateway: Envoy) -> None:
    r = requests.get(f"{gateway.url}/v1/unknown", timeout=10)
    assert r.status_code == 404 and r.json()["code"] == 5
    r = requests.get(f"{gateway.url}/health?verbose=1", timeout=10)
    assert r.status_code == 400 and "verbose" in r.json()["message"]


def test_cors_only_for_configured_origins(gateway: Envoy) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    ok = requests.options(f"{gateway.url}/predict", headers={"Origin": "https://app.example", **preflight},
                          timeout=10)
    assert ok.headers.get("access-control-allow-origin") == "https://app.example"
    assert "POST" in ok.headers["access-control-allow-methods"]
    denied = requests.options(f"{gateway.url}/predict", headers={"Origin": "https://evil.example", **preflight},
                              timeout=10)
    assert "access-control-allow-origin" not in denied.headers
    simple = requests.get(f"{gateway.url}/health", headers={"Origin": "https://app.example"}, timeout=10)
    assert simple.headers.get("access-control-allow-origin") == "https://app.example"


def test_native_grpc_and_reflection_through_envoy(gateway: Envoy, photos_dir: Path) -> None:
    with grpc.insecure_channel(gateway.grpc_target, options=[("grpc.max_send_message_length", 16 << 20)]) as ch:
        stub = detector_pb2_grpc.DeepfakeDetectorStub(ch)
        response = stub.Predict(pb.PredictRequest(image=(photos_dir / "multiface.jpg").read_bytes()), timeout=60)
        assert len(response.faces) == 6
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(pb.PredictRequest(image=b"nope"), timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        reflection = reflection_pb2_grpc.ServerReflectionStub(ch)
        answers = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                                  timeout=10)
        assert "deepfake.v1.DeepfakeDetector" in {s.name for a in answers for s in a.list_services_response.service}


def _access_log_line(gateway: Envoy, request_id: str, timeout: float = 15.0) -> dict[str, object]:
    """Envoy's JSON access-log line for one request (Envoy writes its log asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        for line in gateway.log_path.read_text(errors="replace").splitlines():
            if request_id in line and line.startswith("{"):
                return json.loads(line)  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"no access-log line for {request_id}")
        time.sleep(0.2)


def test_access_log_records_the_servers_status_for_rest_and_grpc(gateway: Envoy, photos_dir: Path) -> None:
    ok = requests.post(f"{gateway.url}/predict", files={"file": ("a.jpg", (photos_dir / "paul_rudd.jpg").read_bytes(),
                                                                  "image/jpeg")}, timeout=60)
    bad = requests.post(f"{gateway.url}/predict", files={"file": ("a.txt", b"not an image", "text/plain")}, timeout=30)
    assert ok.status_code == 200 and bad.status_code == 400
    assert bad.headers["x-grpc-status"] == "INVALID_ARGUMENT" and "x-grpc-status" not in ok.headers
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        stub = detector_pb2_grpc.DeepfakeDetectorStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(pb.PredictRequest(image=b"nope"), timeout=30)
    trailers = dict(info.value.trailing_metadata() or ())
    assert trailers["x-grpc-status"] == "INVALID_ARGUMENT"

    # Envoy's %GRPC_STATUS% would say "Internal" for the transcoded 400: the log takes the server's own code.
    assert _access_log_line(gateway, bad.headers["x-request-id"])["grpc_error"] == "INVALID_ARGUMENT"
    assert _access_log_line(gateway, ok.headers["x-request-id"])["grpc_error"] is None
    grpc_line = _access_log_line(gateway, trailers["x-request-id"])  # the id Envoy gave the call
    assert grpc_line["grpc_error"] == "INVALID_ARGUMENT" and grpc_line["status"] == 200


def test_prometheus_stats_on_the_local_admin_port(gateway: Envoy) -> None:
    requests.get(f"{gateway.url}/health", timeout=10)
    stats = gateway.admin("/stats/prometheus")
    assert "envoy_cluster_upstream_rq_total" in stats
    assert "envoy_cluster_grpc_" in stats, "grpc_stats counts per-method calls"
    config = json.loads(gateway.config_path.read_text())
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"


def test_documented_routes_exist(gateway: Envoy) -> None:
    """Every route in docs/openapi.yaml answers (not 404/405), and every REST binding in the proto is documented."""
    spec = yaml.safe_load((REPO / "docs" / "openapi.yaml").read_text())
    for path, operations in spec["paths"].items():
        for method in operations:
            path = path.replace("{id}", "f" * 32)  # a well-formed id that does not exist: a JSON 404
            r = requests.request(method, gateway.url + path, timeout=30,
                                 **({"json": {}} if method == "post" and path == "/v1/predict" else {}))
            assert r.status_code != 405 and (r.status_code != 404 or "No prediction" in r.text), (method, path, r.text)
    proto = (REPO / "proto" / "deepfake" / "v1" / "detector.proto").read_text()
    for line in proto.splitlines():
        line = line.strip()
        if line.startswith(("get:", "post:")):
            method, path = line.split(":", 1)
            path = path.strip().strip('"')
            assert method in spec["paths"].get(path, {}), f"{method.upper()} {path} is not in docs/openapi.yaml"
    docs = requests.get(f"{gateway.url}/docs", timeout=10)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert requests.get(f"{gateway.url}/openapi.yaml", timeout=10).text.startswith("openapi: 3")


@pytest.fixture
def strict_gateway(served: RunningServer, tmp_path: Path) -> Iterator[Envoy]:
    with Envoy(settings_for(served.port, rate_limit_rps=1.0, rate_limit_burst=3), tmp_path) as envoy:
        yield envoy


def test_per_client_rate_limit_answers_429_with_retry_after(strict_gateway: Envoy) -> None:
    codes = [requests.get(f"{strict_gateway.url}/health", timeout=10) for _ in range(6)]
    assert [r.status_code for r in codes[:3]] == [200, 200, 200]
    limited = [r for r in codes if r.status_code == 429]
    assert limited, [r.status_code for r in codes]
    assert limited[0].headers["retry-after"] == "1"
    assert "Too many requests" in limited[0].json()["message"]


def test_server_down_is_503_json(tmp_path: Path) -> None:
    dead_port = free_port()  # nothing listens here
    with Envoy(settings_for(dead_port), tmp_path, expect_healthy=False) as envoy:
        r = requests.get(f"{envoy.url}/health", timeout=10)
        assert r.status_code == 503
        assert r.json()["code"] == 14 and "unavailable" in r.json()["message"]
        r = requests.post(f"{envoy.url}/predict", files={"file": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")},
                          timeout=10)
        assert r.status_code == 503

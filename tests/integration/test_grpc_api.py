"""The DeepfakeDetector API over real gRPC: predictions on real photos, errors, health, reflection."""

from __future__ import annotations

import io
import random
from pathlib import Path

import grpc
import pytest
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc
from google.api import httpbody_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from PIL import Image

from server.app import RunningServer
from training.dataset import discover, select

Stub = detector_pb2_grpc.DeepfakeDetectorStub


def predict(stub: Stub, data: bytes, **fields: object) -> pb.PredictResponse:
    return stub.Predict(pb.PredictRequest(image=data, **fields), timeout=60)


def test_one_face_photo(stub: Stub, photos_dir: Path) -> None:
    data = (photos_dir / "paul_rudd.jpg").read_bytes()
    r = predict(stub, data, filename="paul_rudd.jpg")
    assert r.prediction in ("Real", "Deepfake")
    assert r.face_found and len(r.faces) == 1
    face = r.faces[0]
    assert 0 <= face.box.x_min < face.box.x_max <= r.image_width
    assert 0 <= face.box.y_min < face.box.y_max <= r.image_height
    assert face.detection_confidence > 0.95
    assert r.fake_probability == pytest.approx(face.fake_probability)
    expected = r.fake_probability if r.prediction == "Deepfake" else 1 - r.fake_probability
    assert r.confidence == pytest.approx(100 * expected, abs=0.01)
    assert (r.image_width, r.image_height) == (1638, 2048)
    assert r.filename == "paul_rudd.jpg" and r.model == "efficientnet_lite0-dfdc"
    assert r.device == "cpu" and r.engine == "onnxruntime" and r.threshold == 0.5
    assert len(r.image_sha256) == 64 and len(r.request_id) >= 16
    assert not r.grad_cam_available and r.heatmap_png == b""
    assert r.timings.total_ms >= r.timings.decode_ms + r.timings.faces_ms > 0
    assert "One face was analysed" in r.explanation


def test_multi_face_photo_classifies_every_face(stub: Stub, photos_dir: Path) -> None:
    r = predict(stub, (photos_dir / "multiface.jpg").read_bytes())
    assert len(r.faces) == 6
    areas = [(f.box.x_max - f.box.x_min) * (f.box.y_max - f.box.y_min) for f in r.faces]
    assert areas == sorted(areas, reverse=True), "faces come largest first"
    assert r.fake_probability == pytest.approx(max(f.fake_probability for f in r.faces))
    assert r.prediction == ("Deepfake" if any(f.label == "Deepfake" for f in r.faces) else "Real")
    assert "6 faces were analysed" in r.explanation


def test_grad_cam_heatmap_is_a_png_of_the_image(stub: Stub, photos_dir: Path) -> None:
    r = predict(stub, (photos_dir / "kate_siegel.jpg").read_bytes(), explain=True)
    assert r.grad_cam_available
    heatmap = Image.open(io.BytesIO(r.heatmap_png))
    assert heatmap.format == "PNG"
    assert max(heatmap.size) == 768
    assert heatmap.size[0] / heatmap.size[1] == pytest.approx(r.image_width / r.image_height, rel=0.01)
    assert r.timings.gradcam_ms > 0


def test_no_face_classifies_the_whole_image(stub: Stub) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(buffer, format="PNG")
    r = predict(stub, buffer.getvalue(), explain=True)
    assert not r.face_found and len(r.faces) == 0
    assert "No face was found" in r.explanation
    assert r.grad_cam_available


def test_face_crop_mode_skips_detection_and_matches_the_evaluation(stub: Stub, dfdc_dir: Path) -> None:
    sample = random.Random(1).sample(select(discover(dfdc_dir), "val"), 4)
    for s in sample:
        r = predict(stub, s.path.read_bytes(), is_face_crop=True)
        assert not r.face_found and r.timings.faces_ms < 1.0
        assert 0.0 <= r.fake_probability <= 1.0


def test_upload_accepts_raw_and_multipart_bodies(stub: Stub, photos_dir: Path) -> None:
    data = (photos_dir / "shea_whigham.jpg").read_bytes()
    raw = stub.PredictUpload(pb.PredictUploadRequest(
        file=httpbody_pb2.HttpBody(content_type="image/jpeg", data=data), filename="raw.jpg"), timeout=60)
    boundary = "----deepfake-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"shea.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    multipart = stub.PredictUpload(pb.PredictUploadRequest(
        file=httpbody_pb2.HttpBody(content_type=f"multipart/form-data; boundary={boundary}", data=body)), timeout=60)
    assert raw.filename == "raw.jpg" and multipart.filename == "shea.jpg"
    assert raw.image_sha256 == multipart.image_sha256
    assert raw.fake_probability == pytest.approx(multipart.fake_probability, abs=1e-6)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"GIF89a" + b"\0" * 100, "JPEG, PNG or WebP"),
    (b"\xff\xd8\xff\xe0" + b"\0" * 100, "truncated or corrupt"),
])
def test_bad_images_are_invalid_argument_with_a_readable_message(stub: Stub, data: bytes, message: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        predict(stub, data)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in info.value.details()
    assert "Traceback" not in info.value.details()


def test_over_size_image_is_rejected(stub: Stub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        predict(stub, b"\xff\xd8\xff\xe0" + b"\0" * (11 * 1024 * 1024))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "limit is 10 MB" in info.value.details()


def test_multipart_without_file_field_says_so(stub: Stub) -> None:
    body = b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\nxx\r\n--b--\r\n"
    with pytest.raises(grpc.RpcError) as info:
        stub.PredictUpload(pb.PredictUploadRequest(
            file=httpbody_pb2.HttpBody(content_type="multipart/form-data; boundary=b", data=body)), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "file" in info.value.details()


def test_request_ids_are_returned_and_client_ids_respected(stub: Stub, photos_dir: Path) -> None:
    data = (photos_dir / "multiface.jpg").read_bytes()
    response, call = stub.Predict.with_call(pb.PredictRequest(image=data), metadata=[("x-request-id", "abc-123")],
                                            timeout=60)
    assert response.request_id == "abc-123"
    assert ("x-request-id", "abc-123") in call.trailing_metadata()
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(pb.PredictRequest(image=b"nope"), metadata=[("x-request-id", "bad id with spaces")], timeout=30)
    trailers = dict(info.value.trailing_metadata())
    assert len(trailers["x-request-id"]) == 32


def test_health_and_model_info(stub: Stub) -> None:
    h = stub.Health(pb.HealthRequest(), timeout=10)
    assert (h.status, h.model_loaded, h.app) == ("healthy", True, "Deepfake Detection API")
    m = stub.ModelInfo(pb.ModelInfoRequest(), timeout=10)
    assert m.model_name == "efficientnet_lite0-dfdc" and m.architecture == "efficientnet_lite0"
    assert m.total_parameters == m.trainable_parameters > 3_000_000
    assert list(m.labels) == ["Real", "Deepfake"] and m.input_size == 224 and m.engine == "onnxruntime"
    assert m.metrics.auc > 0.8 and m.metrics.images == 2531
    assert m.model_path.endswith("weights/default") and m.calibration.startswith("platt")


def test_standard_health_service_is_serving(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "deepfake.v1.DeepfakeDetector"):
        assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert {"deepfake.v1.DeepfakeDetector", "grpc.health.v1.Health"} <= names


def test_served_fixture_port_is_real(served: RunningServer) -> None:
    assert served.port > 0


def test_large_jpegs_are_decoded_reduced_but_answered_in_original_pixels(stub: Stub, photos_dir: Path) -> None:
    photo = Image.open(photos_dir / "paul_rudd.jpg").convert("RGB")
    big = photo.resize((photo.width * 2, photo.height * 2))  # 3276 x 4096: decoded at 1/2 scale
    buffer = io.BytesIO()
    big.save(buffer, format="JPEG", quality=92)
    small, large = (predict(stub, data) for data in ((photos_dir / "paul_rudd.jpg").read_bytes(), buffer.getvalue()))
    assert (large.image_width, large.image_height) == (3276, 4096)
    a, b = small.faces[0].box, large.faces[0].box
    for got, want in ((b.x_min, a.x_min), (b.y_min, a.y_min), (b.x_max, a.x_max), (b.y_max, a.y_max)):
        assert got == pytest.approx(2 * want, rel=0.05, abs=20)

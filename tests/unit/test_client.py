"""The Python client library and CLI against a real in-process gRPC server running a canned servicer.

The servicer decides by file name: ``bad.jpg`` is rejected, ``busy.jpg`` is overloaded, and so on (see
``FAILURES``); every other file gets a canned prediction that is a deepfake when its bytes start with FAKE,
and Uncertain (leaning Real) when they start with UNSURE. Only the Uncertain answers carry a ``verdict``: the
others are what a server from before verdicts sends.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from deepfake.v1 import detector_pb2, detector_pb2_grpc
from deepfake_client import (
    MAX_MESSAGE_BYTES,
    AuthenticationError,
    Box,
    DeadlineExceededError,
    DeepfakeClient,
    DeepfakeError,
    Face,
    Health,
    InvalidImageError,
    ModelInfo,
    ModelMetrics,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    Prediction,
    ServerError,
    Timings,
    UnavailableError,
    UncertainBand,
    __version__,
    _convert,
)
from deepfake_client.cli import HeatmapWriter, main
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2

HEATMAP = b"\x89PNG\r\n\x1a\n-canned-heatmap"
API_KEY = "s3cret-key"

# file name -> (status, details, trailing metadata)
FAILURES: dict[str, tuple[grpc.StatusCode, str, tuple[tuple[str, str | bytes], ...]]] = {
    "bad.jpg": (grpc.StatusCode.INVALID_ARGUMENT, "not a JPEG, PNG or WebP image", (("x-request-id", "req-bad"),)),
    "busy.jpg": (grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full", (("retry-after", "2.5"), ("x-request-id", "r2"))),
    "busy-plain.jpg": (grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full", ()),
    "down.jpg": (grpc.StatusCode.UNAVAILABLE, "model not ready", ()),
    "noauth.jpg": (grpc.StatusCode.UNAUTHENTICATED, "missing API key", ()),
    "denied.jpg": (grpc.StatusCode.PERMISSION_DENIED, "key may not predict", ()),
    "missing.jpg": (grpc.StatusCode.NOT_FOUND, "no such record", ()),
    "boom.jpg": (grpc.StatusCode.INTERNAL, "internal error", (("x-request-id", "req-boom"),)),
    "odd.jpg": (grpc.StatusCode.DATA_LOSS, "odd", ()),
}


def rich_status_details() -> bytes:
    """google.rpc.Status with RetryInfo(1.5 s) and RequestInfo, as grpcio-status would send it."""
    status = status_pb2.Status(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], message="queue full")
    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=Duration(seconds=1, nanos=500_000_000)))
    status.details.add().Pack(error_details_pb2.RequestInfo(request_id="req-rich"))
    return status.SerializeToString()


FAILURES["busy-rich.jpg"] = (grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full",
                             (("grpc-status-details-bin", rich_status_details()),))


class CannedDetector(detector_pb2_grpc.DeepfakeDetectorServicer):
    """Canned answers, chosen failures, and a record of what each call carried."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.metadata: list[dict[str, str]] = []
        self.attempts: dict[str, int] = {}
        self.health_status = "healthy"

    def _record(self, context: grpc.ServicerContext, name: str = "") -> int:
        with self.lock:
            self.metadata.append({m.key: m.value for m in context.invocation_metadata()})
            self.attempts[name] = self.attempts.get(name, 0) + 1
            return self.attempts[name]

    def Predict(self, request: detector_pb2.PredictRequest, context: grpc.ServicerContext) -> Any:  # noqa: N802
        attempt = self._record(context, request.filename)
        if request.filename in FAILURES:
            code, details, trailers = FAILURES[request.filename]
            context.set_trailing_metadata(trailers)
            context.abort(code, details)
        # Fail the first attempt only: the client's retry policy (or the CLI's overload backoff) must recover.
        if request.filename.startswith("flaky") and attempt == 1:
            context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        if request.filename.startswith("busy-once") and attempt == 1:
            context.set_trailing_metadata((("retry-after", "0.01"),))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full")
        if request.filename == "slow.jpg":
            time.sleep(1.0)
        fake = request.image.startswith(b"FAKE")
        if request.image.startswith(b"UNSURE"):
            return detector_pb2.PredictResponse(
                prediction="Real", verdict="Uncertain", confidence=58.0, explanation="Needs a human look.",
                filename=request.filename, model="canned-lite0", device="cpu", fake_probability=0.42,
                faces=[detector_pb2.Face(box=detector_pb2.Box(x_min=10, y_min=20, x_max=110, y_max=140),
                                         detection_confidence=0.99, fake_probability=0.42, label="Real",
                                         confidence=58.0, verdict="Uncertain"),
                       detector_pb2.Face(box=detector_pb2.Box(x_min=200, y_min=30, x_max=240, y_max=80),
                                         detection_confidence=0.8, fake_probability=0.05, label="Real",
                                         confidence=95.0, verdict="Real")],
                face_found=True, request_id=f"req-{request.filename or 'anon'}",
                image_sha256=hashlib.sha256(request.image).hexdigest(), image_width=640, image_height=480,
                engine="onnxruntime", threshold=0.5,
            )
        return detector_pb2.PredictResponse(
            prediction="Deepfake" if fake else "Real",
            confidence=91.5 if fake else 88.0,
            explanation="The largest face decided the verdict.",
            filename=request.filename,
            model="canned-lite0",
            device="cpu",
            grad_cam_available=request.explain,
            fake_probability=0.915 if fake else 0.12,
            faces=[
                detector_pb2.Face(box=detector_pb2.Box(x_min=10, y_min=20, x_max=110, y_max=140),
                                  detection_confidence=0.99, fake_probability=0.915 if fake else 0.12,
                                  label="Deepfake" if fake else "Real", confidence=91.5 if fake else 88.0),
                detector_pb2.Face(box=detector_pb2.Box(x_min=200, y_min=30, x_max=240, y_max=80),
                                  detection_confidence=0.8, fake_probability=0.05, label="Real", confidence=95.0),
            ],
            face_found=True,
            heatmap_png=HEATMAP if request.explain else b"",
            request_id=f"req-{request.filename or 'anon'}",
            image_sha256=hashlib.sha256(request.image).hexdigest(),
            timings=detector_pb2.StageTimings(decode_ms=1.5, faces_ms=10.25, inference_ms=5.0, gradcam_ms=0.0,
                                              total_ms=17.0),
            image_width=640,
            image_height=480,
            engine="torchscript",
            threshold=0.5,
        )

    def Health(self, request: detector_pb2.HealthRequest, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self._record(context)
        return detector_pb2.HealthResponse(status=self.health_status, app="deepfake-detector", version="0.1.0",
                                           model_loaded=self.health_status == "healthy")

    def ModelInfo(self, request: detector_pb2.ModelInfoRequest, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self._record(context)
        return detector_pb2.ModelInfoResponse(
            model_name="canned-lite0", device="cpu", model_path="weights/default/model.ts", total_parameters=3_400_000,
            trainable_parameters=3_300_000, architecture="efficientnet_lite0", engine="torchscript", input_size=224,
            labels=["Real", "Deepfake"], threshold=0.5, calibration="temperature", face_detector="opencv-dnn",
            weights_sha256="ab" * 32, init="imagenet",
            metrics=detector_pb2.ModelMetrics(dataset="val split", images=2531, auc=0.874, accuracy=0.794,
                                              precision=0.8, recall=0.7, log_loss=0.45,
                                              expected_calibration_error=0.03),
            version="0.1.0",
            uncertain_band=detector_pb2.UncertainBand(
                low=0.3, high=0.7, target_precision=0.95, fitted_on="calib split", abstention_share=0.21,
                real_precision=0.96, deepfake_precision=0.951,
                measured={"abstention_share": 0.21, "real_precision": 0.96, "deepfake_precision": 0.951}),
        )


def start_server(servicer: CannedDetector) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ])
    detector_pb2_grpc.add_DeepfakeDetectorServicer_to_server(servicer, server)
    port = server.add_insecure_port("localhost:0")
    server.start()
    return server, f"localhost:{port}"


@pytest.fixture(scope="module")
def shared_server() -> Iterator[tuple[CannedDetector, str]]:
    servicer = CannedDetector()
    server, target = start_server(servicer)
    yield servicer, target
    server.stop(0)


@pytest.fixture
def servicer(shared_server: tuple[CannedDetector, str]) -> CannedDetector:
    servicer = shared_server[0]
    with servicer.lock:
        servicer.metadata.clear()
        servicer.attempts.clear()
        servicer.health_status = "healthy"
    return servicer


@pytest.fixture
def target(shared_server: tuple[CannedDetector, str], servicer: CannedDetector) -> str:
    return shared_server[1]


@pytest.fixture
def fresh_server() -> Iterator[tuple[CannedDetector, str]]:
    """A server of its own: gRPC throttles retries per server name, so retry tests must not share one."""
    servicer = CannedDetector()
    server, target = start_server(servicer)
    yield servicer, target
    server.stop(0)


@pytest.fixture
def client(target: str) -> Iterator[DeepfakeClient]:
    with DeepfakeClient(target, timeout=5) as client:
        yield client


def free_port_target() -> str:
    """An address where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


# ---------------------------------------------------------------------------------------------------- library


def test_prediction_converts_every_field(client: DeepfakeClient) -> None:
    result = client.predict(b"FAKE image bytes", filename="face.jpg")
    assert result == Prediction(
        prediction="Deepfake", confidence=91.5, explanation="The largest face decided the verdict.",
        filename="face.jpg", model="canned-lite0", device="cpu", grad_cam_available=False, fake_probability=0.915,
        faces=(
            Face(box=Box(10, 20, 110, 140), detection_confidence=0.99, fake_probability=0.915, label="Deepfake",
                 confidence=91.5, verdict="Deepfake"),
            Face(box=Box(200, 30, 240, 80), detection_confidence=0.8, fake_probability=0.05, label="Real",
                 confidence=95.0, verdict="Real"),
        ),
        face_found=True, heatmap_png=None, request_id="req-face.jpg",
        image_sha256=hashlib.sha256(b"FAKE image bytes").hexdigest(),
        timings=Timings(decode_ms=1.5, faces_ms=10.25, inference_ms=5.0, gradcam_ms=0.0, total_ms=17.0),
        image_width=640, image_height=480, engine="torchscript", threshold=0.5,
        verdict="Deepfake",  # this server sends no verdict (it predates them): the prediction stands in
    )
    assert result.is_deepfake and result.faces[0].is_deepfake and not result.faces[1].is_deepfake
    assert not result.is_uncertain and not result.faces[0].is_uncertain
    assert result.faces[0].box.width == 100 and result.faces[0].box.height == 120
    assert "heatmap_png" not in repr(result)
    assert not client.predict(b"real bytes").is_deepfake


def test_uncertain_verdict_beside_the_two_valued_prediction(client: DeepfakeClient) -> None:
    result = client.predict(b"UNSURE image bytes", filename="unsure.jpg")
    assert (result.verdict, result.prediction) == ("Uncertain", "Real")
    assert result.is_uncertain and not result.is_deepfake
    assert [(f.verdict, f.label, f.is_uncertain) for f in result.faces] == [
        ("Uncertain", "Real", True), ("Real", "Real", False)]


def test_heatmap_is_bytes_only_when_explained(client: DeepfakeClient) -> None:
    assert client.predict(b"img", explain=False).heatmap_png is None
    explained = client.predict(b"img", explain=True)
    assert explained.heatmap_png == HEATMAP and explained.grad_cam_available


def test_health_and_model_info(client: DeepfakeClient, servicer: CannedDetector) -> None:
    assert client.health() == Health(status="healthy", app="deepfake-detector", version="0.1.0", model_loaded=True)
    assert client.health().is_healthy
    info = client.model_info()
    assert info == ModelInfo(
        model_name="canned-lite0", device="cpu", model_path="weights/default/model.ts", total_parameters=3_400_000,
        trainable_parameters=3_300_000, architecture="efficientnet_lite0", engine="torchscript", input_size=224,
        labels=("Real", "Deepfake"), threshold=0.5, calibration="temperature", face_detector="opencv-dnn",
        weights_sha256="ab" * 32, init="imagenet",
        metrics=ModelMetrics(dataset="val split", images=2531, auc=0.874, accuracy=0.794, precision=0.8, recall=0.7,
                             log_loss=0.45, expected_calibration_error=0.03),
        version="0.1.0",
        uncertain_band=UncertainBand(low=0.3, high=0.7, target_precision=0.95, fitted_on="calib split",
                                     abstention_share=0.21, real_precision=0.96, deepfake_precision=0.951,
                                     measured={"abstention_share": 0.21, "real_precision": 0.96,
                                               "deepfake_precision": 0.951}),
    )
    assert info.uncertain_band is not None and info.uncertain_band.is_banded
    # Absent sub-messages: no metrics -> None, no band (an older server) -> None, no timings -> zeros.
    assert _convert.model_info_from_pb(detector_pb2.ModelInfoResponse()).metrics is None
    assert _convert.model_info_from_pb(detector_pb2.ModelInfoResponse()).uncertain_band is None
    no_band = detector_pb2.ModelInfoResponse(uncertain_band=detector_pb2.UncertainBand(low=0.5, high=0.5))
    assert not _convert.model_info_from_pb(no_band).uncertain_band.is_banded  # type: ignore[union-attr]
    assert _convert.prediction_from_pb(detector_pb2.PredictResponse()).timings == Timings()


def test_path_str_and_bytes_inputs(client: DeepfakeClient, tmp_path: Path) -> None:
    image = tmp_path / "holiday photo.jpg"
    image.write_bytes(b"FAKE from disk")
    digest = hashlib.sha256(b"FAKE from disk").hexdigest()
    by_path = client.predict(image)
    assert (by_path.filename, by_path.image_sha256) == ("holiday photo.jpg", digest)
    assert client.predict(str(image), filename="renamed.jpg").filename == "renamed.jpg"
    by_bytes = client.predict(b"FAKE from disk")
    assert (by_bytes.filename, by_bytes.image_sha256) == ("", digest)
    with pytest.raises(FileNotFoundError):
        client.predict(tmp_path / "nope.jpg")


def test_oversized_image_is_refused_locally(client: DeepfakeClient, servicer: CannedDetector) -> None:
    with pytest.raises(InvalidImageError, match="at most 16 MiB") as info:
        client.predict(b"x" * MAX_MESSAGE_BYTES)
    assert info.value.code == "INVALID_ARGUMENT"
    assert servicer.metadata == []


def test_authorization_metadata_only_with_api_key(target: str, servicer: CannedDetector) -> None:
    with DeepfakeClient(target) as anonymous:
        anonymous.predict(b"img")
        anonymous.health()
    with DeepfakeClient(target, api_key=API_KEY) as keyed:
        keyed.predict(b"img")
        keyed.health()
        keyed.model_info()
        assert API_KEY not in repr(keyed)
    assert [m.get("authorization") for m in servicer.metadata] == [None, None] + [f"Bearer {API_KEY}"] * 3


@pytest.mark.parametrize(
    ("filename", "error", "code", "request_id"),
    [
        ("bad.jpg", InvalidImageError, "INVALID_ARGUMENT", "req-bad"),
        ("noauth.jpg", AuthenticationError, "UNAUTHENTICATED", None),
        ("denied.jpg", PermissionDeniedError, "PERMISSION_DENIED", None),
        ("missing.jpg", NotFoundError, "NOT_FOUND", None),
        ("boom.jpg", ServerError, "INTERNAL", "req-boom"),
        ("odd.jpg", ServerError, "DATA_LOSS", None),
    ],
)
def test_status_codes_map_to_exceptions(
    client: DeepfakeClient, filename: str, error: type[DeepfakeError], code: str, request_id: str | None
) -> None:
    with pytest.raises(error) as info:
        client.predict(b"img", filename=filename)
    assert type(info.value) is error
    assert (info.value.code, info.value.details, info.value.request_id) == (code, FAILURES[filename][1], request_id)
    assert isinstance(info.value.__cause__, grpc.RpcError)  # kept for debugging, not part of the API


@pytest.mark.parametrize(
    ("filename", "retry_after", "request_id"),
    [("busy.jpg", 2.5, "r2"), ("busy-rich.jpg", 1.5, "req-rich"), ("busy-plain.jpg", None, None)],
)
def test_overloaded_carries_retry_after(
    client: DeepfakeClient, filename: str, retry_after: float | None, request_id: str | None
) -> None:
    with pytest.raises(OverloadedError) as info:
        client.predict(b"img", filename=filename)
    assert (info.value.code, info.value.retry_after, info.value.request_id) == (
        "RESOURCE_EXHAUSTED", retry_after, request_id)


def test_deadline_exceeded(client: DeepfakeClient) -> None:
    with pytest.raises(DeadlineExceededError) as info:
        client.predict(b"img", filename="slow.jpg", timeout=0.2)
    assert info.value.code == "DEADLINE_EXCEEDED"


def test_unavailable_is_retried_then_raised(fresh_server: tuple[CannedDetector, str]) -> None:
    servicer, target = fresh_server
    with DeepfakeClient(target) as client:
        # A 10 MB upload is retried too: the retry buffer is raised to the message limit.
        big = b"FAKE" + b"\0" * 10_000_000
        assert client.predict(big, filename="flaky-big.jpg").image_sha256 == hashlib.sha256(big).hexdigest()
        assert servicer.attempts["flaky-big.jpg"] == 2
        with pytest.raises(UnavailableError) as info:
            client.predict(b"img", filename="down.jpg")
    assert info.value.code == "UNAVAILABLE" and info.value.details == "model not ready"
    assert servicer.attempts["down.jpg"] == 4


def test_server_down_raises_unavailable() -> None:
    with DeepfakeClient(free_port_target(), timeout=10) as client, pytest.raises(UnavailableError):
        client.health()


# ---------------------------------------------------------------------------------------------------- CLI


def write_images(folder: Path, names: dict[str, bytes]) -> None:
    for name, data in names.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def test_cli_predict_text(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_images(tmp_path, {"a.jpg": b"FAKE a", "b.png": b"real b"})
    assert main(["--server", target, "predict", str(tmp_path / "a.jpg"), str(tmp_path / "b.png")]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'a.jpg'}: Deepfake (91.5% confident)" in out
    assert f"{tmp_path / 'b.png'}: Real (88.0% confident)" in out
    assert "faces: 2" in out and "box (10, 20)-(110, 140)" in out and "fake probability 0.915" in out
    assert "timings: decode 1.5 ms, faces 10.2 ms" in out and "request req-a.jpg" in out
    assert "#1 Deepfake 91.5%" not in out and "#1 Deepfake (91.5% confident)" in out


def test_cli_shows_the_uncertain_verdict(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_images(tmp_path, {"u.jpg": b"UNSURE u", "r.jpg": b"real r"})
    assert main(["--server", target, "predict", str(tmp_path / "u.jpg")]) == 0, "exit codes ignore the verdict"
    out = capsys.readouterr().out
    assert f"{tmp_path / 'u.jpg'}: Uncertain — needs a human look (leans Real, 58.0%)" in out
    assert "#1 Uncertain — needs a human look (leans Real, 58.0%)" in out and "#2 Real (95.0% confident)" in out
    assert main(["--server", target, "predict", "--json", str(tmp_path / "u.jpg")]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["verdict"] == "Uncertain" and record["is_uncertain"] is True and record["prediction"] == "Real"
    assert [f["verdict"] for f in record["faces"]] == ["Uncertain", "Real"]
    assert main(["--server", target, "scan", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert [(Path(r["path"]).name, r["prediction"], r["verdict"]) for r in read_csv(captured.out)] == [
        ("r.jpg", "Real", "Real"), ("u.jpg", "Real", "Uncertain")]
    assert "1 Real, 0 Deepfake, 1 Uncertain (needs a human look), 0 failed" in captured.err


def test_cli_predict_json_and_heatmaps(
    target: str, servicer: CannedDetector, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_images(tmp_path, {"a.jpg": b"FAKE a", "b.png": b"real b"})
    heatmaps = tmp_path / "heatmaps"
    # Connection options are accepted after the subcommand as well.
    rc = main(["predict", "--server", target, "--api-key", API_KEY, "--json", "--heatmap-dir", str(heatmaps),
               str(tmp_path / "a.jpg"), str(tmp_path / "b.png")])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["path"] for r in records] == [str(tmp_path / "a.jpg"), str(tmp_path / "b.png")]
    first = records[0]
    assert first["prediction"] == "Deepfake" and first["is_deepfake"] is True and first["confidence"] == 91.5
    assert first["faces"][0]["box"] == {"x_min": 10, "y_min": 20, "x_max": 110, "y_max": 140}
    assert first["timings"]["total_ms"] == 17.0 and first["grad_cam_available"] is True
    assert "heatmap_png" not in first
    assert first["heatmap_path"] == str(heatmaps / "a.heatmap.png")
    assert (heatmaps / "a.heatmap.png").read_bytes() == HEATMAP == (heatmaps / "b.heatmap.png").read_bytes()
    assert {m["authorization"] for m in servicer.metadata} == {f"Bearer {API_KEY}"}
    assert API_KEY not in captured.out + captured.err


def test_cli_predict_failure_continues(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_images(tmp_path, {"bad.jpg": b"junk", "ok.jpg": b"real"})
    rc = main(["--server", target, "predict", str(tmp_path / "missing.png"), str(tmp_path / "bad.jpg"),
               str(tmp_path / "ok.jpg")])
    captured = capsys.readouterr()
    assert rc == 1
    assert "No such file or directory" in captured.err and "INVALID_ARGUMENT: not a JPEG" in captured.err
    assert f"{tmp_path / 'ok.jpg'}: Real" in captured.out


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_cli_scan_csv(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_images(tmp_path, {"a.jpg": b"FAKE a", "b.PNG": b"real b", "c.webp": b"real c", "sub/d.jpeg": b"FAKE d",
                            "notes.txt": b"not an image", ".hidden.jpg": b"AppleDouble"})
    assert main(["--server", target, "scan", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    rows = read_csv(captured.out)
    assert list(rows[0]) == ["path", "prediction", "confidence", "fake_probability", "faces", "face_found",
                             "request_id", "error", "heatmap", "verdict"]
    assert [(Path(r["path"]).name, r["prediction"]) for r in rows] == [
        ("a.jpg", "Deepfake"), ("b.PNG", "Real"), ("c.webp", "Real")]
    assert rows[0] == {"path": str(tmp_path / "a.jpg"), "prediction": "Deepfake", "confidence": "91.5",
                       "fake_probability": "0.915", "faces": "2", "face_found": "True",
                       "request_id": "req-a.jpg", "error": "", "heatmap": "", "verdict": "Deepfake"}
    assert "3 images in" in captured.err
    assert "2 Real, 1 Deepfake, 0 Uncertain (needs a human look), 0 failed" in captured.err

    assert main(["--server", target, "scan", "--recursive", str(tmp_path)]) == 0
    rows = read_csv(capsys.readouterr().out)
    assert [Path(r["path"]).name for r in rows] == ["a.jpg", "b.PNG", "c.webp", "d.jpeg"]


def test_cli_scan_json_output_file_with_failures(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "images"
    names = {f"img{i:02d}.jpg": b"FAKE" if i % 2 else b"real" for i in range(12)}
    write_images(images, {**names, "bad.jpg": b"junk", "boom.jpg": b"x", "busy-once.jpg": b"real"})
    output = tmp_path / "out" / "results.json"
    output.parent.mkdir()
    rc = main(["--server", target, "scan", str(images), "--format", "json", "--output", str(output),
               "--concurrency", "3"])
    captured = capsys.readouterr()
    assert rc == 1
    assert captured.out == ""
    rows = json.loads(output.read_text())
    assert [Path(r["path"]).name for r in rows] == sorted([*names, "bad.jpg", "boom.jpg", "busy-once.jpg"])
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["bad.jpg"]["error"] == "INVALID_ARGUMENT: not a JPEG, PNG or WebP image (request req-bad)"
    assert by_name["bad.jpg"]["prediction"] is None and by_name["bad.jpg"]["confidence"] is None
    assert by_name["boom.jpg"]["error"].startswith("INTERNAL")
    # RESOURCE_EXHAUSTED with retry-after is waited out, not recorded as a failure.
    assert by_name["busy-once.jpg"]["prediction"] == "Real" and by_name["busy-once.jpg"]["error"] is None
    assert by_name["img01.jpg"] | {"path": ""} == {
        "path": "", "prediction": "Deepfake", "confidence": 91.5, "fake_probability": 0.915, "faces": 2,
        "face_found": True, "request_id": "req-img01.jpg", "error": None, "heatmap": None, "verdict": "Deepfake"}
    assert by_name["bad.jpg"]["verdict"] is None
    assert "15 images in" in captured.err and "7 Real, 6 Deepfake, 0 Uncertain (needs a human look), 2 failed" \
        in captured.err
    assert "Traceback" not in captured.err


def test_cli_scan_heatmaps_are_named_safely(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "images"
    write_images(images, {"x.jpg": b"real", "x.png": b"real", "sub/x.jpg": b"FAKE", "we ird;name.jpg": b"real"})
    heatmaps = tmp_path / "heatmaps"
    rc = main(["--server", target, "scan", "-r", str(images), "--heatmap-dir", str(heatmaps), "--format", "json"])
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)
    written = sorted(p.name for p in heatmaps.iterdir())
    assert written == ["sub__x.heatmap.png", "we_ird_name.heatmap.png", "x-2.heatmap.png", "x.heatmap.png"]
    assert sorted(Path(r["heatmap"]).name for r in rows) == written
    assert all((heatmaps / name).read_bytes() == HEATMAP for name in written)


def test_heatmap_writer_stays_inside_its_folder(tmp_path: Path) -> None:
    writer = HeatmapWriter(tmp_path / "maps")
    assert writer.write("../../etc/passwd", b"png") == tmp_path / "maps" / "etc_passwd.heatmap.png"
    assert writer.write("..", b"png") == tmp_path / "maps" / "image.heatmap.png"
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"keep")
    (tmp_path / "maps" / "link.heatmap.png").symlink_to(outside)
    with pytest.raises(OSError):
        writer.write("link", b"png")
    assert outside.read_bytes() == b"keep"


def test_cli_scan_stops_on_fatal_error(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_images(tmp_path, {"a.jpg": b"real", "noauth.jpg": b"real", **{f"z{i}.jpg": b"real" for i in range(20)}})
    rc = main(["--server", target, "scan", str(tmp_path), "--concurrency", "1"])
    captured = capsys.readouterr()
    assert rc == 1
    assert captured.err.strip().splitlines()[-1] == "deepfake-detect: error: UNAUTHENTICATED: missing API key"
    assert [Path(r["path"]).name for r in read_csv(captured.out)] == ["a.jpg"]


@pytest.mark.parametrize("command", [["health"], ["predict", "IMAGE"], ["scan", "FOLDER"], ["model-info"]],
                         ids=lambda c: c[0])
def test_cli_server_down(command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_images(tmp_path, {"a.jpg": b"real", "b.jpg": b"real"})
    argv = [{"IMAGE": str(tmp_path / "a.jpg"), "FOLDER": str(tmp_path)}.get(a, a) for a in command]
    target = free_port_target()
    assert main(["--server", target, *argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"deepfake-detect: error: cannot reach the server at {target}: ")
    assert "Traceback" not in err


def test_cli_usage_errors(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["--server", target, "scan", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["scan", str(tmp_path), "--concurrency", "0"]) == 2
    assert main(["--timeout", "-1", "health"]) == 2
    assert main(["--ca-cert", str(tmp_path / "none.pem"), "health"]) == 2
    assert "cannot read --ca-cert" in capsys.readouterr().err
    (tmp_path / "a.jpg").write_bytes(b"real")
    assert main(["--server", target, "predict", str(tmp_path / "a.jpg"), "--heatmap-dir", str(tmp_path / "a.jpg")]) == 2
    assert "cannot use --heatmap-dir" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "predict" in capsys.readouterr().out


def test_python_m_runs_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "deepfake_client", "--version"], capture_output=True, text=True,
                          check=False)
    assert (done.returncode, done.stdout.strip()) == (0, f"deepfake-detect {__version__}")


def test_cli_environment_defaults(
    target: str, servicer: CannedDetector, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEEPFAKE_SERVER", target)
    monkeypatch.setenv("DEEPFAKE_API_KEY", API_KEY)
    assert main(["health"]) == 0
    assert capsys.readouterr().out.startswith("healthy | deepfake-detector 0.1.0 | model loaded")
    assert servicer.metadata[-1]["authorization"] == f"Bearer {API_KEY}"


def test_cli_health_and_model_info(target: str, servicer: CannedDetector, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--server", target, "health", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"status": "healthy", "app": "deepfake-detector",
                                                   "version": "0.1.0", "model_loaded": True, "is_healthy": True}
    servicer.health_status = "starting"
    assert main(["--server", target, "health"]) == 1
    assert capsys.readouterr().out.startswith("starting")

    assert main(["--server", target, "model-info"]) == 0
    text = capsys.readouterr().out
    assert "architecture" in text and "efficientnet_lite0" in text and "3,400,000 (3,300,000 trainable)" in text
    assert "ROC AUC" in text and "0.874" in text
    assert "uncertain band " in text
    assert ("  [0.300, 0.700) is Uncertain (needs a human look); target precision 95%, fitted on "
            "calib split; measured: abstention share 0.210, Real precision 0.960, Deepfake precision 0.951") in text
    assert main(["--server", target, "model-info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["labels"] == ["Real", "Deepfake"] and info["metrics"]["images"] == 2531
    assert info["uncertain_band"]["low"] == 0.3 and info["uncertain_band"]["fitted_on"] == "calib split"

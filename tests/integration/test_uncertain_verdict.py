"""The three-way verdict end to end: a real server whose model spec has an uncertain band, over gRPC and
over REST through a real Envoy, with its prediction log and metrics.

The band is placed around probabilities the shipped model gives known images (asked of the shared server
without a band first), so the test holds for any shipped weights: a real DFDC crop and a photo's face fall
inside it, a clearly real and a clearly fake crop outside.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import requests
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc

from server.app import RunningServer, build_service, create_server
from server.config import Config
from server.model.spec import UncertainBand
from tests.conftest import CHANNEL_OPTIONS, shipped_weights_with_band
from tests.integration.gateway import Envoy, settings_for
from tests.unit.test_storage import wait_for

Stub = detector_pb2_grpc.DeepfakeDetectorStub
UNSURE_CROP = "real/aaferzprat.jpg"  # shipped model: about 0.31
REAL_CROP = "real/aabqyygbaa.jpg"  # about 0.003
FAKE_CROP = "fake/aabdogagch.jpg"  # about 0.99
UNSURE_PHOTO = "paul_rudd.jpg"  # one face, about 0.52
MARGIN = 0.05


@dataclass(frozen=True)
class Banded:
    server: RunningServer
    stub: Stub
    envoy: Envoy
    band: UncertainBand
    threshold: float
    probability: dict[str, float]  # image -> probability from the server without a band


@pytest.fixture(scope="module")
def banded(stub: Stub, dfdc_dir: Path, photos_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Banded]:
    probability = {
        name: stub.Predict(pb.PredictRequest(image=(dfdc_dir / name).read_bytes(), is_face_crop=True),
                           timeout=60).fake_probability
        for name in (UNSURE_CROP, REAL_CROP, FAKE_CROP)
    }
    photo = stub.Predict(pb.PredictRequest(image=(photos_dir / UNSURE_PHOTO).read_bytes()), timeout=60)
    assert len(photo.faces) == 1
    probability[UNSURE_PHOTO] = photo.faces[0].fake_probability
    threshold = photo.threshold
    inside = (probability[UNSURE_CROP], probability[UNSURE_PHOTO], threshold)
    band = UncertainBand(low=max(0.0, min(inside) - MARGIN), high=min(1.0, max(inside) + MARGIN),
                         target_precision=0.95, fitted_on="test: around known images",
                         measured={"abstention_share": 0.25, "real_precision": 0.97, "deepfake_precision": 0.95})
    assert probability[REAL_CROP] < band.low and probability[FAKE_CROP] >= band.high, (probability, band)

    var = tmp_path_factory.mktemp("banded")
    weights = shipped_weights_with_band(var / "weights", band)
    config = Config(port=0, weights=weights, database_url=f"sqlite:///{var / 'predictions.db'}",
                    spool_dir=var / "spool", metrics_port=0)
    service = build_service(config)
    assert service.prediction_log is not None
    service.prediction_log.start()
    service.load()
    server = create_server(config, service)
    server.mark_serving()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}", options=CHANNEL_OPTIONS) as channel, \
                Envoy(settings_for(server.port), var) as envoy:
            yield Banded(server, detector_pb2_grpc.DeepfakeDetectorStub(channel), envoy, band, threshold, probability)
    finally:
        server.stop(1.0)


def test_grpc_verdicts_inside_and_outside_the_band(banded: Banded, dfdc_dir: Path) -> None:
    def predict(name: str) -> pb.PredictResponse:
        return banded.stub.Predict(pb.PredictRequest(image=(dfdc_dir / name).read_bytes(), filename=Path(name).name,
                                                     is_face_crop=True), timeout=60)

    unsure = predict(UNSURE_CROP)
    assert unsure.fake_probability == pytest.approx(banded.probability[UNSURE_CROP], abs=1e-5)
    assert unsure.verdict == "Uncertain"
    assert unsure.prediction == ("Deepfake" if unsure.fake_probability >= banded.threshold else "Real")
    assert "needs a human look" in unsure.explanation and not unsure.face_found
    real, fake = predict(REAL_CROP), predict(FAKE_CROP)
    assert (real.verdict, real.prediction) == ("Real", "Real")
    assert (fake.verdict, fake.prediction) == ("Deepfake", "Deepfake")

    band = banded.stub.ModelInfo(pb.ModelInfoRequest(), timeout=10).uncertain_band
    assert (band.low, band.high) == pytest.approx((banded.band.low, banded.band.high))
    assert band.fitted_on == "test: around known images" and band.target_precision == 0.95
    assert (band.abstention_share, band.real_precision, band.deepfake_precision) == (0.25, 0.97, 0.95)

    wait_for(lambda: has_record(banded.stub, unsure.prediction_id), timeout=30)
    record = banded.stub.GetPrediction(pb.GetPredictionRequest(id=unsure.prediction_id), timeout=30)
    assert record.verdict == "Uncertain" and record.prediction == unsure.prediction

    metrics = banded.server.service.metrics
    assert metrics is not None
    counts = {s.labels["verdict"]: s.value for f in metrics.registry.collect() for s in f.samples
              if s.name == "deepfake_predictions_total"}
    assert counts["Uncertain"] >= 1 and counts["Real"] >= 1 and counts["Deepfake"] >= 1


def has_record(stub: Stub, prediction_id: str) -> bool:
    try:
        stub.GetPrediction(pb.GetPredictionRequest(id=prediction_id), timeout=30)
        return True
    except grpc.RpcError:
        return False


def test_rest_through_envoy_says_uncertain(banded: Banded, dfdc_dir: Path, photos_dir: Path) -> None:
    url = banded.envoy.url
    crop = requests.post(f"{url}/v1/predict:upload?is_face_crop=true&filename=crop.jpg",
                         data=(dfdc_dir / UNSURE_CROP).read_bytes(), headers={"content-type": "image/jpeg"},
                         timeout=60)
    assert crop.status_code == 200, crop.text
    body = crop.json()
    assert body["verdict"] == "Uncertain" and body["prediction"] in ("Real", "Deepfake")
    assert "needs a human look" in body["explanation"]

    with open(photos_dir / UNSURE_PHOTO, "rb") as fh:
        photo = requests.post(f"{url}/predict", files={"file": (UNSURE_PHOTO, fh, "image/jpeg")}, timeout=60)
    assert photo.status_code == 200, photo.text
    body = photo.json()
    (face,) = body["faces"]
    assert body["verdict"] == face["verdict"] == "Uncertain"
    assert face["label"] == body["prediction"] == ("Deepfake" if face["fake_probability"] >= banded.threshold
                                                   else "Real")
    assert body["explanation"].startswith("One face was analysed; the model cannot tell whether it is authentic")

    info = requests.get(f"{url}/model-info", timeout=10).json()
    assert info["uncertain_band"]["low"] == pytest.approx(banded.band.low)
    assert info["uncertain_band"]["high"] == pytest.approx(banded.band.high)
    assert info["uncertain_band"]["measured"] == {"abstention_share": 0.25, "real_precision": 0.97,
                                                  "deepfake_precision": 0.95}

    def listed(verdict: str) -> list[dict[str, object]]:
        r = requests.get(f"{url}/v1/predictions", params={"verdict": verdict, "page_size": 500}, timeout=30)
        assert r.status_code == 200, r.text
        return list(r.json()["predictions"])

    wait_for(lambda: {body["prediction_id"]} <= {r["id"] for r in listed("Uncertain")}, timeout=30)
    unsure = listed("Uncertain")
    assert unsure and all(r["verdict"] == "Uncertain" for r in unsure)
    record = next(r for r in unsure if r["id"] == body["prediction_id"])
    assert record["prediction"] == body["prediction"] and record["faces"][0]["verdict"] == "Uncertain"  # type: ignore[index]
    assert all(r["verdict"] == "Real" for r in listed("Real"))
    bad = requests.get(f"{url}/v1/predictions", params={"verdict": "Maybe"}, timeout=30)
    assert bad.status_code == 400 and "Real, Deepfake, Uncertain" in bad.json()["message"]

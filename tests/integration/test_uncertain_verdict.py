"""The three-way verdict end to end: a real server whose model spec has an uncertain band (the ``banded``
fixture, tests/integration/banded.py), over gRPC and over REST through a real Envoy, with its prediction log
and metrics."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import requests
from deepfake.v1 import detector_pb2 as pb

from tests.integration.banded import FAKE_CROP, REAL_CROP, UNSURE_CROP, UNSURE_PHOTO, Banded, Stub
from tests.unit.test_storage import wait_for


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
    assert info["uncertain_band"]["measured"] == {"uncertain_share": 0.25, "precision_real": 0.97,
                                                  "precision_deepfake": 0.95}
    assert info["uncertain_band"]["abstention_share"] == 0.25

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

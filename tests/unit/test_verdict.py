"""The three-way verdict: the uncertain band per face, the image rule, the explanation, model info.

The service tests load the shipped model and changes only the spec's threshold and band
between requests; the spec is read on every request, so this is the same as serving a banded spec.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from server.config import Config
from server.domain import Box, FaceResult, RequestContext
from server.model.spec import ModelSpec, UncertainBand
from server.service import DetectionService, _explain, image_verdict
from server.transport.codec import model_info_to_pb, prediction_to_pb
from tests.weights import shipped_weights_with_band
from training.metrics import fit_uncertain_band

LABELS = ("Real", "Deepfake")


@pytest.mark.parametrize(("faces", "expected"), [
    (["Real"], "Real"),
    (["Real", "Real"], "Real"),
    (["Uncertain"], "Uncertain"),
    (["Real", "Uncertain", "Real"], "Uncertain"),
    (["Uncertain", "Deepfake"], "Deepfake"),
    (["Real", "Deepfake", "Uncertain"], "Deepfake"),
    (["Deepfake"], "Deepfake"),
])
def test_image_verdict_is_deepfake_then_uncertain_then_real(faces: list[str], expected: str) -> None:
    assert image_verdict(faces, LABELS) == expected


def test_band_gives_three_verdicts_and_no_band_gives_the_label() -> None:
    base = ModelSpec(architecture="efficientnet_lite0", input_size=224, mean=(0.5,) * 3, std=(0.25,) * 3)
    banded = base.replace(uncertain=UncertainBand(low=0.3, high=0.7, target_precision=0.95, fitted_on="test"))
    assert [banded.verdict_for(p) for p in (0.0, 0.299, 0.3, 0.5, 0.699, 0.7, 1.0)] == [
        "Real", "Real", "Uncertain", "Uncertain", "Uncertain", "Deepfake", "Deepfake"]
    for p in (0.0, 0.3, 0.4999, 0.5, 0.7, 1.0):
        assert base.verdict_for(p) == base.label_for(p)
    # No band (low == high) follows the threshold wherever the default band sits, and such a spec loads.
    low_threshold = base.replace(threshold=0.4)
    assert low_threshold.verdict_for(0.45) == low_threshold.label_for(0.45) == "Deepfake"
    assert ModelSpec.from_dict(low_threshold.to_dict()) == low_threshold
    with pytest.raises(ValueError, match="must contain the threshold"):
        ModelSpec.from_dict(base.replace(uncertain=UncertainBand(low=0.6, high=0.8)).to_dict())
    with pytest.raises(ValueError, match="must contain the threshold"):
        ModelSpec.from_dict(base.replace(uncertain=UncertainBand(low=0.6, high=0.4)).to_dict())


def face(p: float, verdict: str) -> FaceResult:
    label = "Deepfake" if p >= 0.5 else "Real"
    return FaceResult(box=Box(0, 0, 10, 10), detection_confidence=0.99, fake_probability=p, label=label,
                      confidence=90.0, verdict=verdict)


def test_explanations_say_when_a_human_should_look() -> None:
    one = _explain((face(0.55, "Uncertain"),), 0.55, "Uncertain", LABELS)
    assert one == ("One face was analysed; the model cannot tell whether it is authentic (deepfake probability 55%), "
                   "so it needs a human look.")
    none = _explain((), 0.4, "Uncertain", LABELS)
    assert none.startswith("No face was found, so the whole image was analysed; the model cannot tell")
    assert "needs a human look" in none and "less reliable without a face" in none
    several = _explain((face(0.1, "Real"), face(0.6, "Uncertain"), face(0.45, "Uncertain")), 0.6, "Uncertain", LABELS)
    assert several == ("3 faces were analysed; the model cannot tell whether faces 2, 3 (numbered largest first) "
                       "are authentic, so the image needs a human look (highest deepfake probability 60%).")
    mixed = _explain((face(0.9, "Deepfake"), face(0.6, "Uncertain")), 0.9, "Deepfake", LABELS)
    assert mixed == ("2 faces were analysed; face 1 (numbered largest first) shows signs of manipulation "
                     "(highest deepfake probability 90%). The model cannot tell whether face 2 is authentic.")
    # Without a band the sentences are the ones the service always gave.
    assert _explain((face(0.2, "Real"),), 0.2, "Real", LABELS) == \
        "One face was analysed; it looks authentic (deepfake probability 20%)."
    assert _explain((face(0.2, "Real"), face(0.7, "Deepfake")), 0.7, "Deepfake", LABELS) == \
        ("2 faces were analysed; face 2 (numbered largest first) shows signs of manipulation "
         "(highest deepfake probability 70%).")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DetectionService]:
    """The shipped model (its spec without a band, whatever the shipped spec says)."""
    weights = shipped_weights_with_band(tmp_path_factory.mktemp("weights"))
    svc = DetectionService(Config(weights=weights, metrics_port=0))
    svc.load()
    yield svc
    svc.close()


def predict(service: DetectionService, data: bytes, is_face_crop: bool = False):  # type: ignore[no-untyped-def]
    return service.predict(data, "x.jpg", explain=False, is_face_crop=is_face_crop,
                           ctx=RequestContext(request_id="test"))


def test_service_verdicts_with_a_real_band(service: DetectionService, photos_dir: Path) -> None:
    unbanded = service.spec
    data = (photos_dir / "multiface.jpg").read_bytes()
    first = predict(service, data)
    probabilities = sorted(f.fake_probability for f in first.faces)
    assert len(probabilities) == 6 and len(set(probabilities)) == 6
    assert first.verdict == first.prediction and all(f.verdict == f.label for f in first.faces)
    assert prediction_to_pb(first).verdict == first.verdict
    p = probabilities

    def mid(a: float, b: float) -> float:
        return (a + b) / 2

    # Two faces Real, two Uncertain, two Deepfake: the image is Deepfake.
    threshold = mid(p[2], p[3])
    band = UncertainBand(low=mid(p[1], p[2]), high=mid(p[3], p[4]), target_precision=0.95, fitted_on="test")
    try:
        service.spec = unbanded.replace(threshold=threshold, uncertain=band)
        r = predict(service, data)
        by_probability = sorted(r.faces, key=lambda f: f.fake_probability)
        assert [f.verdict for f in by_probability] == ["Real", "Real", "Uncertain", "Uncertain", "Deepfake", "Deepfake"]
        assert [f.label for f in by_probability] == ["Real"] * 3 + ["Deepfake"] * 3
        assert r.verdict == "Deepfake" == r.prediction
        assert "The model cannot tell whether faces" in r.explanation

        # Everything at or above the band's low end inside it: the image is Uncertain, its prediction Deepfake.
        service.spec = unbanded.replace(threshold=threshold, uncertain=UncertainBand(
            low=band.low, high=min(1.0, p[5] + 1e-6), fitted_on="test"))
        r = predict(service, data)
        assert sorted(f.verdict for f in r.faces) == ["Real", "Real", "Uncertain", "Uncertain", "Uncertain",
                                                      "Uncertain"]
        assert r.verdict == "Uncertain" and r.prediction == "Deepfake"
        assert "needs a human look" in r.explanation
        assert prediction_to_pb(r).verdict == "Uncertain"
        assert [f.verdict for f in prediction_to_pb(r).faces] == [f.verdict for f in r.faces]

        # No face (here: classified as a whole): the whole image's probability decides.
        service.spec = unbanded
        whole = predict(service, data, is_face_crop=True)
        service.spec = unbanded.replace(uncertain=UncertainBand(low=0.0, high=1.0, fitted_on="test"))
        r = predict(service, data, is_face_crop=True)
        assert not r.face_found and r.verdict == "Uncertain" and r.prediction == whole.prediction
        assert r.explanation.startswith("No face was found") and "needs a human look" in r.explanation
    finally:
        service.spec = unbanded


def test_model_info_exposes_the_band(service: DetectionService) -> None:
    unbanded = service.spec
    info = model_info_to_pb(service.model_info())
    assert (info.uncertain_band.low, info.uncertain_band.high) == (0.5, 0.5) and not info.uncertain_band.fitted_on
    measured = {"uncertain_share": 0.18, "precision_real": 0.96, "precision_deepfake": 0.955, "n": 812,
                "note": "text is left out", "other": float("nan")}
    try:
        service.spec = unbanded.replace(uncertain=UncertainBand(low=0.2, high=0.8, target_precision=0.95,
                                                                fitted_on="calib split", measured=measured))
        band = model_info_to_pb(service.model_info()).uncertain_band
        assert (band.low, band.high, band.target_precision, band.fitted_on) == (0.2, 0.8, 0.95, "calib split")
        assert (band.abstention_share, band.real_precision, band.deepfake_precision) == (0.18, 0.96, 0.955)
        assert dict(band.measured) == {"uncertain_share": 0.18, "precision_real": 0.96, "precision_deepfake": 0.955,
                                       "n": 812.0}

        # A band as training fits it: its measured numbers reach the API's named fields.
        rng = np.random.default_rng(0)
        labels = rng.integers(0, 2, 2000)
        probs = np.clip(labels * 0.35 + rng.uniform(0.0, 0.65, 2000), 0.0, 1.0)
        fitted = fit_uncertain_band(labels, probs, 0.5, 0.95, "synthetic")
        assert fitted.banded
        service.spec = unbanded.replace(uncertain=fitted)
        band = model_info_to_pb(service.model_info()).uncertain_band
        assert (band.low, band.high, band.fitted_on) == (fitted.low, fitted.high, "synthetic")
        assert band.abstention_share == pytest.approx(fitted.measured["uncertain_share"]) and band.abstention_share > 0
        assert band.real_precision == pytest.approx(fitted.measured["precision_real"]) and band.real_precision >= 0.95
        assert band.deepfake_precision == pytest.approx(fitted.measured["precision_deepfake"])
        assert band.deepfake_precision >= 0.95
    finally:
        service.spec = unbanded

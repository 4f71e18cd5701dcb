from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.model.spec import Calibration, FaceCrop, ModelSpec


def make_spec(**changes: object) -> ModelSpec:
    base = ModelSpec(architecture="efficientnet_lite0", input_size=224, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    return base.replace(**changes)


def test_round_trip_through_json(tmp_path: Path) -> None:
    spec = make_spec(calibration=Calibration(scale=0.2, bias=-0.3, fitted_on="val"), threshold=0.4,
                     metrics={"val": {"auc": 0.9}})
    spec.save(tmp_path)
    assert ModelSpec.load(tmp_path) == spec


def test_unknown_fields_and_versions_are_rejected(tmp_path: Path) -> None:
    data = make_spec().to_dict()
    (tmp_path / "model_spec.json").write_text(json.dumps({**data, "surprise": 1}))
    with pytest.raises(ValueError, match=r"unknown model spec fields: surprise"):
        ModelSpec.load(tmp_path)
    (tmp_path / "model_spec.json").write_text(json.dumps({**data, "format_version": 99}))
    with pytest.raises(ValueError, match="format_version 99"):
        ModelSpec.load(tmp_path)


def test_missing_spec_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"model_spec\.json"):
        ModelSpec.load(tmp_path)


def test_face_crop_expands_each_side_by_its_fraction() -> None:
    crop = FaceCrop(left=0.1, top=-0.1, right=0.2, bottom=0.0)
    assert crop.crop_box((100, 200, 200, 400)) == pytest.approx((90, 220, 220, 400))


def test_calibration_is_a_stable_sigmoid() -> None:
    c = Calibration(scale=2.0, bias=1.0)
    assert c.probability(0.0) == pytest.approx(0.7310586)
    assert c.probability(-1e4) == 0.0
    assert c.probability(1e4) == 1.0


def test_decision_logit_inverts_the_calibration() -> None:
    c = Calibration(scale=0.2, bias=-0.3)
    for threshold in (0.1, 0.5, 0.9):
        assert c.probability(c.decision_logit(threshold)) == pytest.approx(threshold)


def test_labels_follow_the_threshold() -> None:
    spec = make_spec(threshold=0.7)
    assert spec.label_for(0.69) == "Real"
    assert spec.label_for(0.7) == "Deepfake"

from __future__ import annotations

import numpy as np
import pytest

from server.model.spec import Calibration
from training.metrics import classification_metrics, expected_calibration_error, fit_platt, probabilities


def test_metrics_on_a_known_example() -> None:
    labels = np.array([0, 0, 1, 1])
    probs = np.array([0.1, 0.6, 0.4, 0.9])
    m = classification_metrics(labels, probs, threshold=0.5)
    assert m["auc"] == pytest.approx(0.75)
    assert m["accuracy"] == 0.5
    assert m["confusion_matrix"] == {"tn": 1, "fp": 1, "fn": 1, "tp": 1}
    assert m["precision"] == 0.5 and m["recall"] == 0.5
    assert m["n"] == 4


def test_platt_scaling_fixes_overconfident_logits() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 4000)
    true_logit = (labels * 2 - 1) * 1.0 + rng.normal(0, 1.5, 4000)
    overconfident = true_logit * 6
    raw = probabilities(overconfident, Calibration())
    calibrated = probabilities(overconfident, fit_platt(labels, overconfident, "test"))
    assert expected_calibration_error(labels, calibrated) < 0.03 < expected_calibration_error(labels, raw)


def test_platt_refuses_to_reverse_the_ranking() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1] * 20)
    logits = np.array([2.0, 1.5, 1.0, -1.0, -1.5, -2.0] * 20)
    with pytest.raises(ValueError, match="do not separate"):
        fit_platt(labels, logits, "test")

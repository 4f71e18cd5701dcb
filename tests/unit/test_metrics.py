from __future__ import annotations

import numpy as np
import pytest

from server.model.spec import Calibration
from training.metrics import (
    classification_metrics,
    expected_calibration_error,
    fit_platt,
    fit_uncertain_band,
    probabilities,
)


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


def _calibrated_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from their own probabilities: a perfectly calibrated, imperfect detector."""
    rng = np.random.default_rng(seed)
    probs = 1 / (1 + np.exp(-rng.normal(0, 2.5, n)))
    return (rng.random(n) < probs).astype(int), probs


def test_band_gives_each_verdict_the_target_precision_outside_it() -> None:
    labels, probs = _calibrated_sample(5000, 1)
    band = fit_uncertain_band(labels, probs, 0.5, 0.95, "test data")
    assert 0.0 < band.low < 0.5 < band.high < 1.0 and band.fitted_on == "test data"
    said_fake, said_real = probs >= band.high, probs < band.low
    assert labels[said_fake].mean() >= 0.95 and 1 - labels[said_real].mean() >= 0.95
    assert band.measured["precision_deepfake"] == pytest.approx(labels[said_fake].mean())
    assert band.measured["uncertain_share"] == pytest.approx(1 - said_fake.mean() - said_real.mean())
    # The narrowest such band: one step further in and the precision drops below the target.
    assert labels[probs >= np.max(probs[probs < band.high])].mean() < 0.95
    assert 1 - labels[probs <= band.low].mean() < 0.95
    # On fresh data from the same detector the band holds up (within sampling noise).
    fresh_labels, fresh_probs = _calibrated_sample(5000, 2)
    assert fresh_labels[fresh_probs >= band.high].mean() > 0.93
    # A looser target gives a narrower band.
    loose = fit_uncertain_band(labels, probs, 0.5, 0.8, "test data")
    assert band.low <= loose.low and loose.high <= band.high


def test_band_of_a_perfect_and_of_a_useless_detector() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    perfect = fit_uncertain_band(labels, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]), 0.5, 0.95, "")
    assert perfect.low == 0.5 and perfect.high == 0.7 and perfect.measured["uncertain_share"] == 0.0
    useless = fit_uncertain_band(labels, np.array([0.6, 0.7, 0.8, 0.6, 0.7, 0.8]), 0.5, 0.95, "")
    assert useless.high == 1.0 and useless.low == 0.0  # every answer is Uncertain
    assert useless.measured["uncertain_share"] == 1.0


def test_platt_recovers_a_known_scale_and_bias() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, 20000)
    labels = (rng.random(20000) < 1 / (1 + np.exp(-(0.5 * logits - 1.0)))).astype(int)
    fitted = fit_platt(labels, logits, "test")
    assert fitted.scale == pytest.approx(0.5, abs=0.03) and fitted.bias == pytest.approx(-1.0, abs=0.06)

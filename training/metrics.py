"""Classification metrics, calibration fitting and the ROC plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from server.model.spec import Calibration, UncertainBand


def probabilities(logits: np.ndarray, calibration: Calibration) -> np.ndarray:
    z = calibration.scale * logits.astype(np.float64) + calibration.bias
    return 1.0 / (1.0 + np.exp(-z))


def fit_platt(labels: np.ndarray, logits: np.ndarray, fitted_on: str) -> Calibration:
    """Platt scaling: a one-feature logistic regression on the logit (effectively unregularised)."""
    model = LogisticRegression(C=1e6, max_iter=1000)
    model.fit(logits.reshape(-1, 1).astype(np.float64), labels)
    scale = float(model.coef_[0, 0])
    if scale <= 0:
        # A model no better than chance would get a ranking-reversing "calibration"; refuse to ship that.
        raise ValueError(f"calibration failed: the logits do not separate the classes (Platt scale {scale:.3f})")
    return Calibration(method="platt", scale=scale, bias=float(model.intercept_[0]), fitted_on=fitted_on)


def fit_uncertain_band(labels: np.ndarray, probs: np.ndarray, threshold: float, target: float,
                       fitted_on: str) -> UncertainBand:
    """The narrowest band around ``threshold`` outside which each verdict has at least ``target`` precision.

    ``high`` is the lowest cut at or above the threshold where the images at or above it are deepfakes at
    least ``target`` of the time; ``low`` the highest cut at or below it where the images below it are real
    at least that often (the cuts are measured on this data: check them on other data). With no such cut a
    side gets 1.0 (never "Deepfake") or 0.0 (never "Real").
    """
    labels = labels.astype(int)
    order = np.argsort(probs)
    p, y = probs[order], labels[order]
    n = len(p)
    # Deepfake side: cut at p[i] keeps p[i:]; precision = fakes in p[i:] / (n - i).
    fakes_from = np.cumsum(y[::-1])[::-1]
    high = 1.0
    for i in range(n):
        if p[i] >= threshold and (i == 0 or p[i] != p[i - 1]) and fakes_from[i] / (n - i) >= target:
            high = float(p[i])
            break
    # Real side: a cut keeps p[:i] (all below the threshold) and lies as high as that allows, at p[i] or at
    # the threshold, whichever is lower; precision = reals in p[:i] / i.
    reals_before = np.cumsum(1 - y)
    low = 0.0
    for i in range(n, 0, -1):
        if p[i - 1] < threshold and (i == n or p[i] != p[i - 1]) and reals_before[i - 1] / i >= target:
            low = float(min(p[i], threshold)) if i < n else threshold
            break
    said_fake, said_real = probs >= high, probs < low
    measured = {
        "n": n,
        "precision_deepfake": float(labels[said_fake].mean()) if said_fake.any() else float("nan"),
        "precision_real": float(1 - labels[said_real].mean()) if said_real.any() else float("nan"),
        "uncertain_share": float(1 - said_fake.mean() - said_real.mean()),
    }
    return UncertainBand(low=low, high=high, target_precision=target, fitted_on=fitted_on, measured=measured)


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(probs[mask].mean() - labels[mask].mean())
    return float(ece)


def classification_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, Any]:
    """AUC, accuracy, precision/recall of "Deepfake" at ``threshold``, log-loss, ECE, confusion matrix."""
    labels = labels.astype(int)
    predicted = (probs >= threshold).astype(int)
    both_classes = len(np.unique(labels)) == 2
    tn, fp, fn, tp = confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    return {
        "n": len(labels),
        "n_real": int((labels == 0).sum()),
        "n_deepfake": int((labels == 1).sum()),
        "auc": float(roc_auc_score(labels, probs)) if both_classes else float("nan"),
        "accuracy": float(accuracy_score(labels, predicted)),
        "threshold": float(threshold),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "log_loss": float(log_loss(labels, np.clip(probs, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "ece": expected_calibration_error(labels, probs),
        "confusion_matrix": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
    }


def save_reliability_png(labels: np.ndarray, probs: np.ndarray, path: Path, title: str, bins: int = 10) -> None:
    """Observed deepfake share against the predicted probability per bin, with how many images each holds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    centres, observed, counts = [], [], []
    for b in range(bins):
        mask = which == b
        if mask.any():
            centres.append(float(probs[mask].mean()))
            observed.append(float(labels[mask].mean()))
            counts.append(int(mask.sum()))
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5, 6), dpi=100, height_ratios=(3, 1), sharex=True)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
    ax.plot(centres, observed, marker="o", label=f"ECE = {expected_calibration_error(labels, probs, bins):.3f}")
    ax.set_ylabel("Observed share of deepfakes")
    ax.set_title(title)
    ax.legend(loc="upper left")
    hist.bar(centres, counts, width=0.8 / bins)
    hist.set_xlabel("Predicted deepfake probability (calibrated)")
    hist.set_ylabel("Images")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def save_roc_png(labels: np.ndarray, probs: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fpr, tpr, _ = roc_curve(labels, probs)
    auc = roc_auc_score(labels, probs)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot(fpr, tpr, label=f"AUC = {auc:.4f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("False positive rate (real called deepfake)")
    ax.set_ylabel("True positive rate (deepfakes caught)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

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

from server.model.spec import Calibration


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

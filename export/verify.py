"""Check an exported engine against the eager model on real images."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from server.engine import Engine
from server.model.preprocess import images_to_batch
from server.model.spec import ModelSpec
from training.dataset import discover, select


@dataclass(frozen=True)
class ParityReport:
    images: int
    max_abs_diff: float  # of calibrated probabilities
    mean_abs_diff: float
    batch_sizes: tuple[int, ...]

    def passed(self, tolerance: float) -> bool:
        return self.max_abs_diff <= tolerance


def check_images(data_dir: Path, count: int, seed: int = 0) -> list[Image.Image]:
    """A seeded sample of real and deepfake face crops from a dataset folder."""
    samples = discover(data_dir)
    chosen = random.Random(seed).sample(samples, min(count, len(samples)))
    return [Image.open(s.path).convert("RGB") for s in chosen]


def compare(reference: Engine, candidate: Engine, images: list[Image.Image], spec: ModelSpec,
            batch_sizes: tuple[int, ...] = (1, 8)) -> ParityReport:
    """Calibrated probabilities of both engines on the same batches, at each batch size."""
    batch = images_to_batch(images, spec)
    diffs = []
    for size in batch_sizes:
        for start in range(0, len(batch), size):
            chunk = batch[start:start + size]
            ref = calibrated_probabilities(reference.run(chunk), spec)
            got = calibrated_probabilities(candidate.run(chunk), spec)
            diffs.append((ref - got).abs())
    all_diffs = torch.cat(diffs)
    return ParityReport(len(images), float(all_diffs.max()), float(all_diffs.mean()), batch_sizes)


def calibrated_probabilities(logits: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """The spec's Platt-calibrated probabilities of raw logits, in float64."""
    c = spec.calibration
    return torch.sigmoid(c.scale * logits.double() + c.bias)


@dataclass(frozen=True)
class AucReport:
    images: int
    reference: float
    candidate: float


def compare_auc(reference: Engine, candidate: Engine, data_dir: Path, spec: ModelSpec,
                batch_size: int = 16) -> AucReport:
    """ROC AUC of both engines on the data's val split (every image when it has no manifest split)."""
    samples = discover(data_dir)
    if any(s.split == "val" for s in samples):
        samples = select(samples, "val")
    labels = np.array([s.label for s in samples])
    scores: dict[str, list[np.ndarray]] = {"reference": [], "candidate": []}
    for start in range(0, len(samples), batch_size):
        batch = images_to_batch([Image.open(s.path).convert("RGB") for s in samples[start:start + batch_size]],
                                spec)
        scores["reference"].append(reference.run(batch).numpy())
        scores["candidate"].append(candidate.run(batch).numpy())
    return AucReport(len(samples), float(roc_auc_score(labels, np.concatenate(scores["reference"]))),
                     float(roc_auc_score(labels, np.concatenate(scores["candidate"]))))

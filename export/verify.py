"""Check an exported engine against the eager model on real images."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from server.engine import Engine
from server.model.preprocess import images_to_batch
from server.model.spec import ModelSpec
from training.dataset import discover


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
            ref = _probabilities(reference.run(chunk), spec)
            got = _probabilities(candidate.run(chunk), spec)
            diffs.append((ref - got).abs())
    all_diffs = torch.cat(diffs)
    return ParityReport(len(images), float(all_diffs.max()), float(all_diffs.mean()), batch_sizes)


def _probabilities(logits: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    c = spec.calibration
    return torch.sigmoid(c.scale * logits.double() + c.bias)

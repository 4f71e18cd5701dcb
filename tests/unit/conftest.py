"""Fixtures of the training tests: the synthetic portraits and a tiny copy of them."""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

import pytest

from tests.conftest import shared_data_root


@pytest.fixture(scope="session")
def synthetic_dir() -> Path:
    return shared_data_root() / "synthetic-faces"


@pytest.fixture(scope="session")
def tiny_portraits(tmp_path_factory: pytest.TempPathFactory, synthetic_dir: Path) -> Path:
    """40 synthetic-faces images (train and eval, real and fake, both generator families) with a manifest."""
    root = tmp_path_factory.mktemp("tiny-portraits")
    with open(synthetic_dir / "manifest.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    rng = random.Random(5)
    picked = []
    for split, label, generator, n in (("train", "real", "FFHQ", 12), ("train", "fake", "StyleGAN2", 8),
                                       ("train", "fake", "diffusion", 4), ("eval", "real", "FFHQ", 8),
                                       ("eval", "fake", "StyleGAN2", 4), ("eval", "fake", "diffusion", 4)):
        pool = [r for r in rows if r["split"] == split and r["label"] == label and r["generator"].startswith(generator)]
        picked += rng.sample(pool, n)
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for r in picked:
            (root / r["file"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(synthetic_dir / r["file"], root / r["file"])
            writer.writerow(r)
    return root

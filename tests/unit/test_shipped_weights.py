"""The default model in weights/default: intact, exported, and as good as its model card says."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from server.engine import load_engine
from server.model.preprocess import images_to_batch
from server.model.spec import ModelSpec, sha256_file
from tests.conftest import REPO
from training.dataset import discover, select
from training.metrics import classification_metrics, probabilities

WEIGHTS = REPO / "weights" / "default"


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return ModelSpec.load(WEIGHTS)


@pytest.mark.parametrize("engine", ["torchscript", "onnxruntime"])
def test_exports_match_the_hashes_in_the_spec(spec: ModelSpec, engine: str) -> None:
    assert spec.weights_sha256 == sha256_file(WEIGHTS / "model.pt")
    artifact = spec.artifacts[engine]
    assert artifact["sha256"] == sha256_file(WEIGHTS / artifact["file"])
    assert artifact["parity"]["max_abs_diff_probability"] <= 1e-4


def test_spec_documents_the_model(spec: ModelSpec) -> None:
    assert spec.labels == ("Real", "Deepfake")
    assert spec.calibration.method == "platt" and spec.calibration.fitted_on == "val split"
    assert spec.training["split"].startswith("manifest split")
    assert spec.metrics["val"]["auc"] >= 0.80
    total = sum(p.stat().st_size for p in WEIGHTS.iterdir())
    assert total < 45e6, "the shipped folder must stay small enough for git"


def test_shipped_model_separates_real_from_fake_on_val(spec: ModelSpec, dfdc_dir: Path) -> None:
    """A seeded sample of 480 identity-disjoint val crops through the default (ONNX Runtime) engine."""
    val = select(discover(dfdc_dir), "val")
    sample = random.Random(0).sample(val, 480)
    engine = load_engine("onnxruntime", WEIGHTS, spec, torch.device("cpu"))
    logits = []
    for start in range(0, len(sample), 16):
        images = [Image.open(s.path).convert("RGB") for s in sample[start:start + 16]]
        logits.append(engine.run(images_to_batch(images, spec)).numpy())
    labels = np.array([s.label for s in sample])
    metrics = classification_metrics(labels, probabilities(np.concatenate(logits), spec.calibration), spec.threshold)
    assert metrics["auc"] >= 0.80
    assert metrics["accuracy"] >= 0.72

from __future__ import annotations

import io
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from server.gradcam import GradCam, render_overlay
from server.model.factory import load_trained
from server.model.preprocess import images_to_batch
from server.model.spec import ModelSpec
from tests.conftest import REPO
from training.dataset import discover, select

WEIGHTS = REPO / "weights" / "default"


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return ModelSpec.load(WEIGHTS)


@pytest.fixture(scope="module")
def cam(spec: ModelSpec) -> GradCam:
    return GradCam(load_trained(WEIGHTS, spec), "bn2")


@pytest.fixture(scope="module")
def batch(spec: ModelSpec, dfdc_dir: Path) -> torch.Tensor:
    samples = random.Random(2).sample(select(discover(dfdc_dir), "val"), 4)
    return images_to_batch([Image.open(s.path) for s in samples], spec)


def test_maps_are_normalised_per_image_and_logits_match_the_model(cam: GradCam, batch: torch.Tensor) -> None:
    logits, maps = cam.explain(batch, 0.0)
    assert maps.shape == (4, 7, 7)
    assert maps.min() >= 0.0 and maps.max() <= 1.0 + 1e-6
    with torch.no_grad():
        torch.testing.assert_close(logits, cam.model(batch).reshape(-1), atol=1e-4, rtol=1e-4)
    single_logit, single = cam.explain(batch[:1], 0.0)
    np.testing.assert_allclose(single[0], maps[0], atol=1e-4)
    assert single_logit.item() == pytest.approx(logits[0].item(), abs=1e-4)


def test_each_map_explains_its_own_verdict(cam: GradCam, batch: torch.Tensor) -> None:
    """Moving the decision point past a logit flips which class that image's map explains."""
    logits, as_is = cam.explain(batch[:1], 0.0)
    _, flipped = cam.explain(batch[:1], float(logits[0]) + (1.0 if logits[0] >= 0 else -1.0) * 100)
    assert not np.allclose(as_is, flipped)


def test_explaining_leaves_the_model_untouched(cam: GradCam, batch: torch.Tensor) -> None:
    with torch.no_grad():
        before = cam.model(batch)
    cam.explain(batch, 0.0)
    assert all(not p.requires_grad and p.grad is None for p in cam.model.parameters())
    assert not cam.layer._forward_hooks, "hooks are removed after each explanation"
    with torch.no_grad():
        assert torch.equal(before, cam.model(batch))


def test_concurrent_explanations_match_sequential_ones(cam: GradCam, batch: torch.Tensor) -> None:
    expected = [cam.explain(batch[i:i + 1], 0.0)[1][0] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: cam.explain(batch[i:i + 1], 0.0)[1][0], [0, 1, 2, 3] * 3))
    for i, m in enumerate(got):
        np.testing.assert_allclose(m, expected[i % 4], atol=1e-4)


def test_overlay_keeps_the_aspect_and_changes_only_the_regions() -> None:
    image = Image.new("RGB", (2000, 1000), (100, 100, 100))
    heat = np.zeros((7, 7), dtype=np.float32)
    heat[3, 3] = 1.0
    png = render_overlay(image, [heat], [(500.0, 200.0, 900.0, 600.0)], max_side=1000)
    out = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert out.shape == (500, 1000, 3)
    assert (out[:, :240] == 100).all() and (out[:, 460:] == 100).all(), "outside the face region nothing changes"
    assert (out[200, 350] != 100).any(), "the hot spot in the middle of the region is coloured"


def test_overlay_handles_regions_outside_the_image() -> None:
    png = render_overlay(Image.new("RGB", (100, 100)), [np.ones((7, 7), np.float32)] * 2,
                         [(-50.0, -50.0, 50.0, 50.0), (200.0, 200.0, 300.0, 300.0)], max_side=100)
    assert Image.open(io.BytesIO(png)).size == (100, 100)

"""The one preprocessing implementation: the request path's numpy batch equals torch's ``normalize``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from server.model.preprocess import fit_to_input, images_to_batch, normalize, to_uint8_chw
from server.model.spec import ModelSpec
from tests.conftest import REPO


def test_images_to_batch_matches_normalize_bit_for_bit(dfdc_dir: Path) -> None:
    spec = ModelSpec.load(REPO / "weights" / "default")
    paths = sorted((dfdc_dir / "real").glob("*.jpg"))[:3] + sorted((dfdc_dir / "fake").glob("*.jpg"))[:3]
    images = [Image.open(p).convert("RGB") for p in paths]
    images.append(Image.new("L", (300, 180), 200))  # resized and converted on the way
    batch = images_to_batch(images, spec)
    expected = normalize(torch.stack([to_uint8_chw(fit_to_input(im, spec)) for im in images]), spec)
    assert batch.dtype == torch.float32 and batch.shape == (len(images), 3, spec.input_size, spec.input_size)
    assert batch.is_contiguous()
    assert np.array_equal(batch.numpy(), expected.numpy())

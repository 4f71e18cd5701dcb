"""Self-blended fakes on a drawn face: the mask lies on the face, pixels change only under it, seeds repeat."""

from __future__ import annotations

import numpy as np
import pytest

from training.sbi import MASK_SHAPES, TEMPLATE_POINTS, SelfBlend, face_outline, similarity

SIZE = 224
# The template's 5 points scaled onto a 224-pixel image, shifted down a little: a face in the middle.
POINTS = TEMPLATE_POINTS * 2.0 + np.array([0.0, 8.0], dtype=np.float32)


def drawn_face(seed: int = 0) -> np.ndarray:
    """A textured background with a skin-coloured face, eyes and a mouth at ``POINTS``."""
    import cv2

    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    cv2.fillPoly(image, [np.round(face_outline(POINTS)).astype(np.int32)], (200, 160, 130))
    for x, y in POINTS[:2]:
        cv2.circle(image, (int(x), int(y)), 8, (40, 30, 30), -1)
    cv2.line(image, tuple(int(v) for v in POINTS[3]), tuple(int(v) for v in POINTS[4]), (150, 60, 60), 4)
    return image


def test_similarity_recovers_a_known_transform() -> None:
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = TEMPLATE_POINTS.astype(np.float64)
    dst = src @ (scale * rotation).T + shift
    matrix = similarity(src, dst)
    assert np.allclose(matrix[:, :2], scale * rotation) and np.allclose(matrix[:, 2], shift)


@pytest.mark.parametrize("shape", MASK_SHAPES)
def test_every_mask_shape_lies_on_the_face(shape: str) -> None:
    blend = SelfBlend(shapes=(shape,))
    for seed in range(5):
        mask = blend.mask((SIZE, SIZE), POINTS, np.random.default_rng(seed))
        assert mask.shape == (SIZE, SIZE) and mask.dtype == np.float32
        assert mask.max() == pytest.approx(1.0) and mask.min() >= 0.0
        # Its weight sits around the face: the centre of mass is near the nose, the corners are untouched.
        ys, xs = np.mgrid[:SIZE, :SIZE]
        cx, cy = (xs * mask).sum() / mask.sum(), (ys * mask).sum() / mask.sum()
        assert abs(cx - POINTS[2, 0]) < 0.2 * SIZE and abs(cy - POINTS[2, 1]) < 0.25 * SIZE
        assert mask[:8, :8].max() == 0.0 and mask[-8:, -8:].max() == 0.0


def test_blend_changes_pixels_only_inside_the_mask() -> None:
    image = drawn_face()
    for seed in range(20):
        result = SelfBlend()(image, POINTS, np.random.default_rng(seed))
        assert result.image.shape == image.shape and result.image.dtype == np.uint8
        outside = result.mask == 0
        assert outside.any() and (~outside).any()
        assert np.array_equal(result.image[outside], image[outside])
        changed = np.any(result.image != image, axis=2)
        assert changed[result.mask > 0.5 * result.mask.max()].mean() > 0.5  # the face really is altered


def test_same_seed_same_fake_other_seed_other_fake() -> None:
    image = drawn_face()
    a = SelfBlend()(image, POINTS, np.random.default_rng(7))
    b = SelfBlend()(image, POINTS, np.random.default_rng(7))
    c = SelfBlend()(image, POINTS, np.random.default_rng(8))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.image, c.image)


def test_a_face_at_the_edge_still_gets_a_mask() -> None:
    points = POINTS + np.array([150.0, 0.0], dtype=np.float32)  # mostly outside on the right
    mask = SelfBlend()(drawn_face(), points, np.random.default_rng(0)).mask
    assert mask.max() > 0

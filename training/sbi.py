"""Self-blended images: fakes made from one real face, for a detector that learns what blending looks like.

A reimplementation from the paper's description (Shiohara & Yamasaki, "Detecting Deepfakes with
Self-Blended Images", CVPR 2022; the authors' code is under a non-commercial licence and is not used):
a copy of the face is altered -- colour, sharpness, a small shift and scale -- and blended back into the
same face under a soft, face-shaped mask. What remains for the model to find is what every face swap leaves:
a boundary where two slightly different images meet, a colour or sharpness mismatch, a misaligned copy.

Masks vary as the literature says they should: a hull of the face outline with or without the forehead, an
ellipse, the lower or upper part only, vertices jittered (landmark deformation), elastic warps, erosion or
dilation, edges blurred by random amounts, and a blend ratio below 1 for partly transparent blends.

The face outline comes from MTCNN's 5 points: a face template (the 5-point positions used by common face
aligners, plus an outline drawn for this project in the same frame) is fitted to them by a similarity
transform, so no 68-point landmark model is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# The template frame: a 112 x 112 aligned face. The 5 points are the widely used aligned positions of the
# eyes, nose tip and mouth corners; the outline (jaw, cheeks, brow line) and forehead were drawn for this
# project around them and checked on DFDC crops.
TEMPLATE_POINTS = np.array(
    [[38.29, 51.70], [73.53, 51.50], [56.03, 71.74], [41.55, 92.37], [70.73, 92.20]], dtype=np.float32
)
OUTLINE = np.array(
    [[17, 40], [17, 55], [19, 68], [23, 80], [29, 91], [37, 100], [46, 106], [56, 108], [66, 106], [75, 100],
     [83, 91], [89, 80], [93, 68], [95, 55], [95, 40], [88, 33], [76, 29], [64, 31], [56, 32], [48, 31],
     [36, 29], [24, 33]],
    dtype=np.float32,
)
N_JAW = 15  # OUTLINE[:N_JAW] is the jaw and cheeks, the rest the brow line
FOREHEAD = np.array([[92, 24], [76, 13], [56, 9], [36, 13], [20, 24]], dtype=np.float32)

MASK_SHAPES = ("hull", "hull_forehead", "ellipse", "lower", "upper", "deformed")
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class SelfBlended:
    image: np.ndarray  # HxWx3 uint8, the fake
    mask: np.ndarray  # HxW float32 in [0, 1]: the weight of the altered copy at each pixel


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity transform (rotation, uniform scale, shift) mapping ``src`` points onto ``dst``
    in the least-squares sense (Umeyama's closed form)."""
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    s, d = src - src_mean, dst - dst_mean
    u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    scale = (sigma * sign).sum() / s.var(0).sum()
    matrix = np.empty((2, 3), dtype=np.float64)
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def face_outline(points: np.ndarray, forehead: bool = False) -> np.ndarray:
    """The template's face outline placed on a face with these 5 points, (N, 2) float32 in image pixels."""
    outline = np.concatenate([OUTLINE[:N_JAW], FOREHEAD]) if forehead else OUTLINE
    matrix = similarity(TEMPLATE_POINTS.astype(np.float64), np.asarray(points, dtype=np.float64))
    return (outline @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


class SelfBlend:
    """``SelfBlend()(image, points, rng)`` -> a self-blended fake of ``image`` with its mask."""

    def __init__(self, shapes: tuple[str, ...] = MASK_SHAPES, blend_ratios: tuple[float, ...] = BLEND_RATIOS,
                 max_shift: float = 0.03, scale_range: tuple[float, float] = (0.95, 1.05)) -> None:
        self.shapes = shapes
        self.blend_ratios = blend_ratios
        self.max_shift = max_shift
        self.scale_range = scale_range

    def __call__(self, image: np.ndarray, points: np.ndarray, rng: np.random.Generator) -> SelfBlended:
        target = np.ascontiguousarray(image, dtype=np.uint8)
        mask = self.mask(target.shape[:2], points, rng)
        source = self.alter(target, rng)
        weight = (mask * rng.choice(self.blend_ratios))[..., None]
        blended = source.astype(np.float32) * weight + target.astype(np.float32) * (1.0 - weight)
        out = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        out[weight[..., 0] == 0] = target[weight[..., 0] == 0]  # bit-exact outside the mask
        return SelfBlended(out, weight[..., 0])

    # ---- the mask ----------------------------------------------------------------------------------------

    def mask(self, shape: tuple[int, int], points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A soft face-shaped mask, float32 in [0, 1], its maximum 1."""
        height, width = shape
        kind = str(rng.choice(self.shapes))
        outline = face_outline(points, forehead=kind == "hull_forehead")
        face_width = float(np.ptp(outline[:, 0]))
        hard = np.zeros((height, width), dtype=np.uint8)
        if kind == "ellipse":
            (cx, cy), (ax, ay), angle = cv2.fitEllipse(outline)
            f = rng.uniform(0.75, 1.0)
            cv2.ellipse(hard, ((cx, cy), (ax * f, ay * f), angle), 255, -1)
        elif kind == "deformed":
            # Each vertex moves with its neighbours (a smoothed random walk round the outline), so the
            # polygon bends without crossing itself.
            jitter = rng.normal(0.0, rng.uniform(0.02, 0.05) * face_width, outline.shape)
            jitter = (np.roll(jitter, 1, 0) + 2 * jitter + np.roll(jitter, -1, 0)) / 4
            cv2.fillPoly(hard, [np.round(outline + jitter).astype(np.int32)], 255)
        else:
            cv2.fillConvexPoly(hard, cv2.convexHull(np.round(outline).astype(np.int32)), 255)
            if kind in ("lower", "upper"):
                # Keep the part below (or above) a line across the face between the eyes and the mouth.
                eyes_y, mouth_y = points[:2, 1].mean(), points[3:, 1].mean()
                cut = round(float(eyes_y + rng.uniform(0.3, 0.8) * (mouth_y - eyes_y)))
                cut = min(max(cut, 1), height - 1)
                if kind == "lower":
                    hard[:cut] = 0
                else:
                    hard[cut:] = 0
        if rng.random() < 0.3:
            hard = _elastic(hard, rng, face_width)
        size = round(rng.uniform(0.0, 0.08) * face_width) * 2 + 1
        if size > 1:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
            morph = cv2.erode if rng.random() < 0.5 else cv2.dilate
            hard = np.asarray(morph(hard, kernel), dtype=np.uint8)
        if not hard.any():  # a face box at the image edge can leave nothing; fall back to the plain hull
            cv2.fillConvexPoly(hard, cv2.convexHull(np.round(face_outline(points)).astype(np.int32)), 255)
        return _soften(hard, rng, face_width)

    # ---- the altered copy --------------------------------------------------------------------------------

    def alter(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The source copy: colour and sharpness changed, then shifted and scaled a little."""
        out = _colour(image, rng)
        which = rng.integers(3)
        if which == 0:  # resolution: down and up again
            h, w = out.shape[:2]
            f = rng.uniform(0.35, 0.75)
            small = cv2.resize(out, (max(4, int(w * f)), max(4, int(h * f))), interpolation=cv2.INTER_AREA)
            out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        elif which == 1:  # sharpen (unsharp mask)
            blurred = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.8, 2.0))
            out = cv2.addWeighted(out, 1.0 + rng.uniform(0.2, 0.8), blurred, -rng.uniform(0.2, 0.8), 0)
        else:  # blur
            out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
        return self._shift_scale(out, rng)

    def _shift_scale(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        scale_x = rng.uniform(*self.scale_range)
        scale_y = scale_x * rng.uniform(0.98, 1.02)
        dx, dy = rng.uniform(-self.max_shift, self.max_shift, 2) * (w, h)
        matrix = np.array([[scale_x, 0, (1 - scale_x) * w / 2 + dx], [0, scale_y, (1 - scale_y) * h / 2 + dy]])
        return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _colour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift RGB, hue, saturation, brightness and contrast by small random amounts (a swap's colour
    mismatch is subtle: a strong shift would teach the model to look for nothing else)."""
    x = image.astype(np.float32)
    if rng.random() < 0.3:
        x += rng.uniform(-15, 15, 3).astype(np.float32)
    if rng.random() < 0.5:
        hsv = cv2.cvtColor(np.clip(x, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-3, 3)) % 180
        hsv[..., 1] *= rng.uniform(0.85, 1.15)
        hsv[..., 2] *= rng.uniform(0.9, 1.1)
        x = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    contrast, brightness = rng.uniform(0.9, 1.1), rng.uniform(-0.08, 0.08) * 255
    x = (x - 128.0) * contrast + 128.0 + brightness
    return np.clip(x, 0, 255).astype(np.uint8)


def _elastic(hard: np.ndarray, rng: np.random.Generator, face_width: float) -> np.ndarray:
    """Warp the mask by a smooth random displacement field (a few percent of the face width)."""
    h, w = hard.shape
    amplitude = face_width * rng.uniform(0.02, 0.06)
    # A coarse random field, smoothed and upsampled: the same as blurring a full-size one, 50x cheaper.
    coarse = rng.standard_normal((2, max(2, h // 8), max(2, w // 8))).astype(np.float32)
    sigma = max(0.5, face_width * 0.15 / 8)
    dx = cv2.resize(cv2.GaussianBlur(coarse[0], (0, 0), sigma), (w, h), interpolation=cv2.INTER_LINEAR)
    dy = cv2.resize(cv2.GaussianBlur(coarse[1], (0, 0), sigma), (w, h), interpolation=cv2.INTER_LINEAR)
    norm = max(float(np.abs(dx).max()), float(np.abs(dy).max()), 1e-6)
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(hard, grid_x + dx / norm * amplitude, grid_y + dy / norm * amplitude, cv2.INTER_LINEAR)


def _soften(hard: np.ndarray, rng: np.random.Generator, face_width: float) -> np.ndarray:
    """Blur the edge twice: the first blur, cut at 1, pulls the edge inwards; the second makes it soft.
    Edges range from nearly sharp to a quarter of the face wide, because real blends do too."""
    mask = hard.astype(np.float32) / 255.0
    first = cv2.GaussianBlur(mask, (0, 0), max(0.5, rng.uniform(0.0, 0.08) * face_width))
    first[first < 0.999] = 0.0
    if not first.any():
        first = mask
    soft = np.asarray(cv2.GaussianBlur(first, (0, 0), max(0.5, rng.uniform(0.01, 0.1) * face_width)), np.float32)
    soft /= max(float(soft.max()), 1e-6)
    soft[soft < 2e-3] = 0.0  # the Gaussian's far tail: it could not move a pixel by half a level
    return soft

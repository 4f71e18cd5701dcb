"""Training augmentation for deepfake detection.

Deepfake evidence lives in fine texture and blending seams, so the augmentations are the ones real uploads
go through anyway -- re-compression, rescaling, mild blur, small colour shifts, a jittered face crop and
mirroring -- and nothing that paints over texture (no cutout, no strong colour or geometric warps).
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from PIL import Image, ImageEnhance, ImageFilter

from server.model.preprocess import RESAMPLE


@dataclass(frozen=True)
class DeepfakeAugment:
    crop_scale: tuple[float, float] = (0.80, 1.0)  # area kept by the crop jitter
    crop_ratio: tuple[float, float] = (0.9, 1.1)
    p_flip: float = 0.5
    p_color: float = 0.8
    color_strength: float = 0.15
    p_jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (40, 95)
    p_rescale: float = 0.3
    rescale: tuple[float, float] = (0.35, 0.9)
    p_blur: float = 0.15
    blur_radius: tuple[float, float] = (0.2, 1.2)

    def __call__(self, image: Image.Image, rng: random.Random) -> Image.Image:
        image = self._crop_jitter(image, rng)
        if rng.random() < self.p_flip:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if rng.random() < self.p_color:
            image = self._color(image, rng)
        if rng.random() < self.p_rescale:
            w, h = image.size
            f = rng.uniform(*self.rescale)
            image = image.resize((max(8, int(w * f)), max(8, int(h * f))), RESAMPLE).resize((w, h), RESAMPLE)
        elif rng.random() < self.p_blur:
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*self.blur_radius)))
        if rng.random() < self.p_jpeg:
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=rng.randint(*self.jpeg_quality))
            image = Image.open(buffer).convert("RGB")
        return image

    def _crop_jitter(self, image: Image.Image, rng: random.Random) -> Image.Image:
        """A random sub-crop (like a detector box that landed slightly elsewhere), resized back."""
        w, h = image.size
        area = rng.uniform(*self.crop_scale) * w * h
        ratio = rng.uniform(*self.crop_ratio)
        cw = min(w, round((area * ratio) ** 0.5))
        ch = min(h, round((area / ratio) ** 0.5))
        x0 = rng.randint(0, w - cw)
        y0 = rng.randint(0, h - ch)
        return image.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), RESAMPLE)

    def _color(self, image: Image.Image, rng: random.Random) -> Image.Image:
        s = self.color_strength
        for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            image = enhancer(image).enhance(rng.uniform(1 - s, 1 + s))
        return image

"""Face detection with MTCNN (facenet-pytorch; its weights ship inside the wheel, nothing is downloaded).

The training crops were cut from MTCNN boxes, so the server uses the same detector: a different detector's
boxes would shift the crops and with them the model's inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from server.model.preprocess import RESAMPLE

# MTCNN's smallest face, in pixels of the image it sees. Its image pyramid starts at this size: an image
# whose shorter side is below it has no pyramid level at all (and facenet-pytorch then fails on an empty list).
MTCNN_MIN_FACE_PX = 20


@dataclass(frozen=True)
class DetectedFace:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the full image
    confidence: float

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


class FaceDetector:
    """Finds faces, largest first. ``downscale`` runs in request threads (PIL only); ``detect`` runs torch
    and is called on the inference worker thread, one detection at a time."""

    def __init__(self, device: torch.device, min_confidence: float, min_face_px: int, max_side: int) -> None:
        from facenet_pytorch import MTCNN  # heavy import, kept out of module import time

        self.min_confidence = min_confidence
        self.min_face_px = min_face_px
        self.max_side = max_side
        # min_face_size is in pixels of the image MTCNN sees (after our downscale).
        self._mtcnn = MTCNN(keep_all=True, device=device, min_face_size=MTCNN_MIN_FACE_PX, post_process=False).eval()

    def downscale(self, image: Image.Image) -> tuple[Image.Image, float]:
        """The image MTCNN should see (longest side at most ``max_side``) and its scale factor."""
        scale = min(1.0, self.max_side / max(image.size))
        if scale == 1.0:
            return image, 1.0
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        return image.resize(size, RESAMPLE, reducing_gap=2.0), scale

    def detect(self, small: Image.Image, scale: float, max_faces: int) -> list[DetectedFace]:
        """Faces in a ``downscale``d image, with boxes in pixels of the full image."""
        if min(small.size) < MTCNN_MIN_FACE_PX:
            return []  # too small to hold a detectable face
        with torch.inference_mode():
            boxes, probs = self._mtcnn.detect(small)
        if boxes is None:
            return []
        faces = []
        for box, prob in zip(np.asarray(boxes, dtype=np.float64), np.asarray(probs, dtype=np.float64), strict=True):
            x0, y0, x1, y1 = (float(v) / scale for v in box)
            if prob < self.min_confidence or min(x1 - x0, y1 - y0) < self.min_face_px:
                continue
            faces.append(DetectedFace((x0, y0, x1, y1), float(prob)))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces[:max_faces]

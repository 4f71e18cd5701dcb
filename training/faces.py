"""Face boxes and 5-point landmarks for training images, found once with MTCNN and kept in a CSV file.

Self-blended fakes need landmarks for their face-shaped masks, and the fully synthetic portraits need the
service's face box so that training crops them the way the service crops uploads. MTCNN (facenet-pytorch,
weights inside the wheel, MIT) is the detector the service runs, so its 5 points come with the box at no
extra licence cost; dlib's 68-point model is non-commercial and MediaPipe needs numpy < 2.

Training finds the faces it needs on first use and keeps them in ``<cache>/<folder name>.faces.csv``
(about 5 minutes for the 19,000 real and portrait images of the shared data on a 2-core CPU); images where
no face was found are kept too, with confidence 0, so they are not searched again.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

log = logging.getLogger(__name__)

FIELDS = ["path", "confidence", "x0", "y0", "x1", "y1"] + [f"point{i}_{a}" for i in range(5) for a in "xy"]


@dataclass(frozen=True)
class FaceMarks:
    """The largest face MTCNN found: its box (x0, y0, x1, y1) and 5 points (eyes, nose, mouth corners)."""

    box: tuple[float, float, float, float]
    points: np.ndarray  # (5, 2) float32: left eye, right eye, nose, left and right mouth corner (x, y)
    confidence: float

    @property
    def min_side(self) -> float:
        x0, y0, x1, y1 = self.box
        return min(x1 - x0, y1 - y0)


MISS = FaceMarks((0.0, 0.0, 0.0, 0.0), np.zeros((5, 2), dtype=np.float32), 0.0)


def cache_file(cache_dir: Path, data_dir: Path) -> Path:
    return Path(cache_dir) / f"{Path(data_dir).resolve().name}.faces.csv"


def ensure_faces(data_dir: Path, paths: list[str], cache_dir: Path) -> dict[str, FaceMarks]:
    """The faces of ``paths`` (relative to ``data_dir``), from the cache, detecting those it lacks."""
    cache = cache_file(cache_dir, data_dir)
    known = load(cache) if cache.exists() else {}
    missing = sorted(set(paths) - set(known))
    if missing:
        log.info("finding faces in %d images of %s (once; kept in %s)", len(missing), data_dir, cache)
        known.update(detect(data_dir, missing))
        save(cache, known)
    wanted = set(paths)
    return {rel: m for rel, m in known.items() if rel in wanted and m.confidence > 0}


def detect(data_dir: Path, paths: list[str]) -> dict[str, FaceMarks]:
    """MTCNN's largest face in each image; a miss is recorded with confidence 0."""
    import torch
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(keep_all=True, min_face_size=20, post_process=False).eval()
    found: dict[str, FaceMarks] = {}
    for rel in tqdm(paths, desc=f"faces in {Path(data_dir).name}", unit="img", dynamic_ncols=True):
        image = Image.open(io.BytesIO((Path(data_dir) / rel).read_bytes())).convert("RGB")
        with torch.inference_mode():
            boxes, probs, points = mtcnn.detect(image, landmarks=True)
        if boxes is None:
            found[rel] = MISS
            continue
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        best = int(np.argmax(areas))
        x0, y0, x1, y1 = (float(v) for v in boxes[best])
        found[rel] = FaceMarks((x0, y0, x1, y1), np.asarray(points[best], dtype=np.float32), float(probs[best]))
    hits = sum(1 for m in found.values() if m.confidence > 0)
    log.info("faces found in %d of %d images of %s", hits, len(paths), data_dir)
    return found


def save(path: Path, marks: dict[str, FaceMarks]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(path).with_suffix(".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(FIELDS)
        for rel, m in sorted(marks.items()):
            writer.writerow([rel, f"{m.confidence:.5f}", *(f"{v:.2f}" for v in m.box),
                             *(f"{v:.2f}" for v in m.points.reshape(-1))])
    tmp.replace(path)


def load(path: Path) -> dict[str, FaceMarks]:
    marks: dict[str, FaceMarks] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            points = np.array([[float(row[f"point{i}_x"]), float(row[f"point{i}_y"])] for i in range(5)],
                              dtype=np.float32)
            box = (float(row["x0"]), float(row["y0"]), float(row["x1"]), float(row["y1"]))
            marks[row["path"]] = FaceMarks(box, points, float(row["confidence"]))
    return marks

"""The model spec: the JSON file that travels beside every weights file.

Training writes it, export copies it (adding its artifact), evaluation and the server read it. Everything
that decides how pixels become a verdict lives here -- architecture, input size, normalisation, face crop,
labels, threshold, calibration -- so that training and serving cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPEC_FILENAME = "model_spec.json"
WEIGHTS_FILENAME = "model.pt"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class FaceCrop:
    """How a face crop is cut from a detector box, in fractions of the box's width and height.

    The crop spans ``x0 - left*w .. x1 + right*w`` and ``y0 - top*h .. y1 + bottom*h`` and is resized to
    the model's square input without keeping the aspect ratio, which is how the DFDC training crops were
    made. Negative values shrink the box.
    """

    detector: str = "mtcnn"
    left: float = 0.025
    top: float = -0.08
    right: float = 0.025
    bottom: float = 0.03
    note: str = ""

    def crop_box(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """The region to crop, in image coordinates, for a detector box ``(x0, y0, x1, y1)``."""
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        return (x0 - self.left * w, y0 - self.top * h, x1 + self.right * w, y1 + self.bottom * h)


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of the model's logit: probability = sigmoid(scale * logit + bias).

    Fitted on held-out data after training, so that a reported 80% means about 80% of such images are
    deepfakes (at that data's class balance); the identity (scale 1, bias 0) means uncalibrated.
    """

    method: str = "platt"
    scale: float = 1.0
    bias: float = 0.0
    fitted_on: str = ""

    def decision_logit(self, threshold: float) -> float:
        """The raw logit at which the calibrated probability equals ``threshold`` (scale is positive)."""
        return (math.log(threshold / (1.0 - threshold)) - self.bias) / self.scale

    def probability(self, logit: float) -> float:
        z = self.scale * logit + self.bias
        # Numerically stable sigmoid for large |z|.
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)


UNCERTAIN = "Uncertain"


@dataclass(frozen=True)
class UncertainBand:
    """Calibrated probabilities in ``[low, high)`` get the verdict "Uncertain" (needs a human look).

    Fitted after calibration on data that chose nothing else, so that outside the band each verdict is
    right at least ``target_precision`` of the time on that data; ``low == high`` means no band (every
    answer is "Real" or "Deepfake", as with the two-valued ``prediction``).
    """

    low: float = 0.5
    high: float = 0.5
    target_precision: float = 0.0
    fitted_on: str = ""
    # Measured when the band was fitted: precision of each verdict outside the band and the abstention share.
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def banded(self) -> bool:
        """False for ``low == high``: no band (whatever the two values are; the default 0.5 included)."""
        return self.high > self.low

    def verdict(self, probability: float, labels: tuple[str, str]) -> str:
        if probability >= self.high:
            return labels[1]
        if probability < self.low:
            return labels[0]
        return UNCERTAIN


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to turn an image into a calibrated verdict with one set of weights."""

    architecture: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    labels: tuple[str, str] = ("Real", "Deepfake")
    threshold: float = 0.5
    calibration: Calibration = field(default_factory=Calibration)
    uncertain: UncertainBand = field(default_factory=UncertainBand)
    face_crop: FaceCrop = field(default_factory=FaceCrop)
    init: str = "scratch"
    name: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str = ""
    artifacts: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def positive_label(self) -> str:
        """The label the model's single logit scores (the image is a deepfake)."""
        return self.labels[1]

    def label_for(self, probability: float) -> str:
        """The two-valued label (``prediction`` in the API): the decision threshold alone."""
        return self.labels[1] if probability >= self.threshold else self.labels[0]

    def verdict_for(self, probability: float) -> str:
        """The three-valued verdict: ``label_for`` outside the uncertain band, "Uncertain" inside it."""
        if not self.uncertain.banded:  # no band: the threshold alone decides, wherever low == high sits
            return self.label_for(probability)
        return self.uncertain.verdict(probability, self.labels)

    def replace(self, **changes: Any) -> ModelSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        version = data.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ValueError(f"unsupported model spec format_version {version} (expected {FORMAT_VERSION})")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model spec fields: {', '.join(unknown)}")
        values = dict(data)
        values["mean"] = tuple(values["mean"])
        values["std"] = tuple(values["std"])
        values["labels"] = tuple(values.get("labels", ("Real", "Deepfake")))
        values["calibration"] = Calibration(**values.get("calibration", {}))
        values["uncertain"] = UncertainBand(**values.get("uncertain", {}))
        values["face_crop"] = FaceCrop(**values.get("face_crop", {}))
        spec = cls(**values)
        band = spec.uncertain
        if band.low > band.high or (band.banded and not 0.0 <= band.low <= spec.threshold <= band.high <= 1.0):
            raise ValueError(f"uncertain band [{band.low}, {band.high}) must contain the threshold {spec.threshold}")
        return spec

    def save(self, directory: Path) -> Path:
        path = Path(directory) / SPEC_FILENAME
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        return path

    @classmethod
    def load(cls, directory_or_file: Path) -> ModelSpec:
        path = Path(directory_or_file)
        if path.is_dir():
            path = path / SPEC_FILENAME
        if not path.exists():
            raise FileNotFoundError(f"model spec not found: {path}")
        return cls.from_dict(json.loads(path.read_text()))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the weights' numerics, recorded in every spec."""
    import platform

    import PIL
    import timm
    import torch
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "pillow": PIL.__version__,
    }

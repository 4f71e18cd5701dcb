"""The service's own result types; the transport converts them to and from protobuf messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REAL = "Real"
DEEPFAKE = "Deepfake"
UNCERTAIN = "Uncertain"  # inside the model's uncertain band: needs a human look
VERDICTS = (REAL, DEEPFAKE, UNCERTAIN)


@dataclass(frozen=True)
class Box:
    x_min: float
    y_min: float
    x_max: float
    y_max: float


@dataclass(frozen=True)
class FaceResult:
    box: Box
    detection_confidence: float
    fake_probability: float
    label: str  # "Real" or "Deepfake": the threshold alone
    confidence: float  # 0-100, in `label`
    verdict: str  # "Real", "Deepfake" or "Uncertain" (inside the model's uncertain band)


@dataclass(frozen=True)
class Timings:
    decode_ms: float = 0.0
    faces_ms: float = 0.0
    inference_ms: float = 0.0
    gradcam_ms: float = 0.0
    total_ms: float = 0.0


@dataclass(frozen=True)
class Prediction:
    prediction: str  # "Real" or "Deepfake" (two-valued, for compatibility)
    verdict: str  # "Real", "Deepfake" or "Uncertain"
    confidence: float
    explanation: str
    filename: str
    model: str
    device: str
    engine: str
    fake_probability: float
    threshold: float
    faces: tuple[FaceResult, ...]
    face_found: bool
    request_id: str
    image_sha256: str
    image_width: int
    image_height: int
    image_format: str
    image_bytes: int
    timings: Timings
    heatmap_png: bytes = b""
    prediction_id: str = ""  # the record's id in the prediction history

    @property
    def grad_cam_available(self) -> bool:
        return bool(self.heatmap_png)


@dataclass(frozen=True)
class RequestContext:
    """Who is asking and how to tell that they gave up; filled in by the transport."""

    request_id: str
    client: str = ""  # API key name, else the client's address
    abandoned: Callable[[], bool] = field(default=lambda: False)


@dataclass(frozen=True)
class Health:
    status: str  # "healthy", "starting" or "stopping"
    app: str
    version: str
    model_loaded: bool


@dataclass(frozen=True)
class UncertainBandInfo:
    """The model's uncertain band as the API describes it; ``low == high`` means no band."""

    low: float
    high: float
    target_precision: float = 0.0
    fitted_on: str = ""
    measured: dict[str, float] = field(default_factory=dict)  # numbers recorded when the band was fitted


@dataclass(frozen=True)
class ModelInfo:
    model_name: str
    device: str
    model_path: str
    total_parameters: int
    trainable_parameters: int
    architecture: str
    engine: str
    input_size: int
    labels: tuple[str, ...]
    threshold: float
    calibration: str
    face_detector: str
    weights_sha256: str
    init: str
    version: str
    uncertain_band: UncertainBandInfo
    metrics: dict[str, Any] = field(default_factory=dict)
    metrics_dataset: str = ""

"""Typed results of the detector's RPCs.

Plain frozen dataclasses mirroring ``deepfake/v1/detector.proto``, so callers never touch generated protobuf
types; the conversion from the wire messages lives in ``deepfake_client._convert``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

REAL = "Real"
DEEPFAKE = "Deepfake"


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned face box in pixels of the uploaded image (after its EXIF orientation)."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float

    @property
    def width(self) -> float:
        return self.x_max - self.x_min

    @property
    def height(self) -> float:
        return self.y_max - self.y_min


@dataclass(frozen=True, slots=True)
class Face:
    """One classified face."""

    box: Box
    detection_confidence: float
    """The face detector's confidence that this is a face, 0-1."""
    fake_probability: float
    """Calibrated probability that this face is a deepfake, 0-1."""
    label: str
    """``"Real"`` or ``"Deepfake"``."""
    confidence: float
    """Confidence in ``label``, 0-100."""

    @property
    def is_deepfake(self) -> bool:
        return self.label == DEEPFAKE


@dataclass(frozen=True, slots=True)
class Timings:
    """Server wall-clock milliseconds per stage of one request."""

    decode_ms: float = 0.0
    faces_ms: float = 0.0
    inference_ms: float = 0.0
    gradcam_ms: float = 0.0
    total_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Prediction:
    """The verdict for one image."""

    prediction: str
    """``"Real"`` or ``"Deepfake"`` (Deepfake when any face is a deepfake)."""
    confidence: float
    """Confidence in ``prediction``, 0-100."""
    explanation: str
    filename: str
    model: str
    device: str
    grad_cam_available: bool
    fake_probability: float
    """Calibrated probability that the image is a deepfake (the highest over its faces), 0-1."""
    faces: tuple[Face, ...]
    """Every face classified, largest first; empty when no face was found."""
    face_found: bool
    # Kept out of repr: a PNG can be megabytes.
    heatmap_png: bytes | None = field(repr=False)
    """Grad-CAM overlay PNG when ``explain`` was requested and computed, else None."""
    request_id: str
    image_sha256: str
    timings: Timings
    image_width: int
    image_height: int
    engine: str
    threshold: float
    """Probability at or above which a face is called a deepfake."""
    prediction_id: str = ""
    """Id of this prediction in the server's history (``DeepfakeClient.get_prediction``)."""

    @property
    def is_deepfake(self) -> bool:
        return self.prediction == DEEPFAKE


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """A prediction as the server recorded it (no image bytes)."""

    id: str
    created_at: datetime
    request_id: str
    filename: str
    image_sha256: str
    image_bytes: int
    image_width: int
    image_height: int
    image_format: str
    prediction: str
    fake_probability: float
    confidence: float
    faces: tuple[Face, ...]
    model: str
    weights_sha256: str
    engine: str
    device: str
    latency_ms: float
    client: str
    explained: bool


@dataclass(frozen=True, slots=True)
class PredictionPage:
    """One page of the history, newest first; pass ``next_page_token`` to get the next one."""

    predictions: tuple[PredictionRecord, ...]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class Health:
    """Liveness and readiness of the server."""

    status: str
    """``"healthy"`` when the model is loaded and serving, otherwise ``"starting"`` or ``"stopping"``."""
    app: str
    version: str
    model_loaded: bool

    @property
    def is_healthy(self) -> bool:
        return self.status == "healthy"


@dataclass(frozen=True, slots=True)
class ModelMetrics:
    """The served model's measured quality and the data it was measured on."""

    dataset: str
    images: int
    auc: float
    accuracy: float
    precision: float
    recall: float
    log_loss: float
    expected_calibration_error: float


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What model answers: architecture, weights, engine, device, preprocessing and quality."""

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
    metrics: ModelMetrics | None
    """None when the server reported no metrics."""
    version: str
    """Service version."""

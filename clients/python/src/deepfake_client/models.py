"""Typed results of the detector's RPCs.

Plain frozen dataclasses mirroring ``deepfake/v1/detector.proto``, so callers never touch generated protobuf
types; the conversion from the wire messages lives in ``deepfake_client._convert``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

REAL = "Real"
DEEPFAKE = "Deepfake"
UNCERTAIN = "Uncertain"
"""A verdict, never a ``prediction``: the probability lies inside the model's uncertain band (needs a human look)."""
VERDICTS = (REAL, DEEPFAKE, UNCERTAIN)


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
    """``"Real"`` or ``"Deepfake"``: the decision threshold alone (two-valued, for compatibility)."""
    confidence: float
    """Confidence in ``label``, 0-100."""
    verdict: str = ""
    """``"Real"``, ``"Deepfake"`` or ``"Uncertain"`` (inside the model's uncertain band: needs a human look).
    Equal to ``label`` for a model without a band, and filled with ``label`` by servers older than verdicts."""

    @property
    def is_deepfake(self) -> bool:
        return self.label == DEEPFAKE

    @property
    def is_uncertain(self) -> bool:
        return self.verdict == UNCERTAIN


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
    """``"Real"`` or ``"Deepfake"`` (Deepfake when any face is a deepfake); two-valued for compatibility,
    see ``verdict``."""
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
    verdict: str = ""
    """``"Real"``, ``"Deepfake"`` or ``"Uncertain"``: Deepfake when any face's verdict is, else Uncertain when
    any face's is, else Real. Uncertain means the probability lies inside the model's uncertain band
    (``ModelInfo.uncertain_band``): the image needs a human look. Equal to ``prediction`` for a model
    without a band, and filled with ``prediction`` by servers older than verdicts."""

    @property
    def is_deepfake(self) -> bool:
        """The two-valued answer (``prediction``); a Deepfake *verdict* is ``verdict == DEEPFAKE``."""
        return self.prediction == DEEPFAKE

    @property
    def is_uncertain(self) -> bool:
        return self.verdict == UNCERTAIN


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
    verdict: str = ""
    """``"Real"``, ``"Deepfake"`` or ``"Uncertain"``, as ``Prediction.verdict``."""


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
class UncertainBand:
    """Calibrated probabilities in ``[low, high)`` get the verdict Uncertain; ``low == high`` means no band."""

    low: float
    high: float
    target_precision: float
    """The precision each verdict outside the band was chosen to reach on ``fitted_on`` (0 without a band)."""
    fitted_on: str
    abstention_share: float
    """Share of ``fitted_on`` inside the band, as measured when it was fitted (0 when not recorded)."""
    real_precision: float
    deepfake_precision: float
    measured: dict[str, float] = field(default_factory=dict)
    """Every number the model spec records for the band, by name."""

    @property
    def is_banded(self) -> bool:
        return self.high > self.low


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
    uncertain_band: UncertainBand | None = None
    """Where the verdict is Uncertain; None from servers older than verdicts."""

"""Python client for the deepfake image detection service.

>>> from deepfake_client import DeepfakeClient
>>> with DeepfakeClient("localhost:50051", api_key="...") as client:
...     result = client.predict("photo.jpg", explain=True)
"""

from ._version import __version__
from .client import DEFAULT_TARGET, DEFAULT_TIMEOUT, MAX_MESSAGE_BYTES, DeepfakeClient
from .errors import (
    AuthenticationError,
    DeadlineExceededError,
    DeepfakeError,
    InvalidImageError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ServerError,
    UnavailableError,
)
from .models import (
    Box,
    Face,
    Health,
    ModelInfo,
    ModelMetrics,
    Prediction,
    PredictionPage,
    PredictionRecord,
    Timings,
    UncertainBand,
)

__all__ = [
    "DEFAULT_TARGET",
    "DEFAULT_TIMEOUT",
    "MAX_MESSAGE_BYTES",
    "AuthenticationError",
    "Box",
    "DeadlineExceededError",
    "DeepfakeClient",
    "DeepfakeError",
    "Face",
    "Health",
    "InvalidImageError",
    "ModelInfo",
    "ModelMetrics",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "Prediction",
    "PredictionPage",
    "PredictionRecord",
    "ServerError",
    "Timings",
    "UnavailableError",
    "UncertainBand",
    "__version__",
]

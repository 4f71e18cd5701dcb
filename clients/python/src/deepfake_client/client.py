"""``DeepfakeClient``: a small synchronous wrapper over the generated gRPC stub."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import grpc
from deepfake.v1 import detector_pb2, detector_pb2_grpc

from . import _convert
from ._version import __version__
from .errors import InvalidImageError, error_from_rpc
from .models import Health, ModelInfo, Prediction, PredictionPage, PredictionRecord

DEFAULT_TARGET = "localhost:50051"
DEFAULT_TIMEOUT = 30.0
# The server accepts uploads up to 10 MB by default; gRPC's own 4 MiB default would refuse them.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_SERVICE = "deepfake.v1.DeepfakeDetector"

# Every RPC of the service is idempotent (a prediction has no side effect a repeat would double), so gRPC may
# transparently retry when the server is briefly unreachable or not ready yet. Throttling stops a down
# server from turning every call into a burst of retries.
_SERVICE_CONFIG: dict[str, Any] = {
    "methodConfig": [
        {
            "name": [{"service": _SERVICE}],
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.2s",
                "maxBackoff": "2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
    "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
}

ImageInput = bytes | str | os.PathLike[str]


class DeepfakeClient:
    """A connection to a deepfake detection server.

    Thread-safe: share one client between threads (the underlying channel multiplexes calls). Failed calls
    raise a ``deepfake_client.errors.DeepfakeError`` subclass, never a raw ``grpc.RpcError``.

    >>> with DeepfakeClient("localhost:50051") as client:
    ...     result = client.predict("photo.jpg")
    ...     print(result.prediction, result.confidence)
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        api_key: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        root_certificates: bytes | None = None,
        tls: bool = False,
    ) -> None:
        """Open a channel to ``target`` (host:port).

        ``timeout`` is the default deadline in seconds per call (None: no deadline). TLS is used when ``tls``
        is set or ``root_certificates`` (PEM) are given; otherwise the channel is plaintext.
        """
        self.target = target
        self.timeout = timeout
        self.tls = tls or root_certificates is not None
        self._metadata: tuple[tuple[str, str], ...] | None = (
            (("authorization", f"Bearer {api_key}"),) if api_key else None
        )
        options = [
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.enable_retries", 1),
            ("grpc.service_config", json.dumps(_SERVICE_CONFIG)),
            # gRPC keeps a request replayable only while it fits this buffer (256 KiB by default), so without
            # it the retry policy would silently skip exactly the large uploads.
            ("grpc.per_rpc_retry_buffer_size", MAX_MESSAGE_BYTES),
            ("grpc.primary_user_agent", f"deepfake-detector-client/{__version__}"),
        ]
        if self.tls:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._stub = detector_pb2_grpc.DeepfakeDetectorStub(self._channel)

    def __repr__(self) -> str:
        # Never show the API key.
        return f"{type(self).__name__}(target={self.target!r}, tls={self.tls}, timeout={self.timeout})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel; calls made afterwards fail."""
        self._channel.close()

    def predict(
        self,
        image: ImageInput,
        *,
        filename: str | None = None,
        explain: bool = False,
        is_face_crop: bool = False,
        timeout: float | None = None,
    ) -> Prediction:
        """Classify the face(s) in one image.

        ``image`` is the file's bytes or a path to read. ``filename`` is echoed back by the server (default:
        the path's name). ``explain`` also asks for a Grad-CAM heatmap (slower). ``is_face_crop`` skips face
        detection and classifies the whole image. ``timeout`` overrides the client's default deadline.
        """
        if isinstance(image, bytes | bytearray | memoryview):
            data = bytes(image)
        else:
            path = Path(image)
            data = path.read_bytes()
            if filename is None:
                filename = path.name
        # Refuse locally what gRPC would refuse with a misleading RESOURCE_EXHAUSTED ("overloaded").
        if len(data) > MAX_MESSAGE_BYTES - 64 * 1024:
            raise InvalidImageError(
                f"image is {len(data)} bytes; the client sends at most {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB",
                code="INVALID_ARGUMENT",
            )
        request = detector_pb2.PredictRequest(
            image=data, filename=filename or "", explain=explain, is_face_crop=is_face_crop
        )
        response = self._call(self._stub.Predict, request, timeout)
        return _convert.prediction_from_pb(response)

    def health(self, *, timeout: float | None = None) -> Health:
        """The server's liveness and readiness."""
        return _convert.health_from_pb(self._call(self._stub.Health, detector_pb2.HealthRequest(), timeout))

    def model_info(self, *, timeout: float | None = None) -> ModelInfo:
        """The model that answers: architecture, weights, engine, device and measured quality."""
        response = self._call(self._stub.ModelInfo, detector_pb2.ModelInfoRequest(), timeout)
        return _convert.model_info_from_pb(response)

    def list_predictions(self, *, verdict: str = "", start_time: datetime | str = "", end_time: datetime | str = "",
                         page_size: int = 50, page_token: str = "", timeout: float | None = None) -> PredictionPage:
        """One page of the server's prediction history, newest first (filters are optional)."""
        request = detector_pb2.ListPredictionsRequest(
            verdict=verdict, start_time=_rfc3339(start_time), end_time=_rfc3339(end_time), page_size=page_size,
            page_token=page_token,
        )
        response = self._call(self._stub.ListPredictions, request, timeout)
        return PredictionPage(tuple(_convert.record_from_pb(r) for r in response.predictions),
                              response.next_page_token)

    def get_prediction(self, prediction_id: str, *, timeout: float | None = None) -> PredictionRecord:
        """One recorded prediction by ``Prediction.prediction_id``."""
        response = self._call(self._stub.GetPrediction, detector_pb2.GetPredictionRequest(id=prediction_id), timeout)
        return _convert.record_from_pb(response)

    def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return method(request, timeout=self.timeout if timeout is None else timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc


def _rfc3339(value: datetime | str) -> str:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return value


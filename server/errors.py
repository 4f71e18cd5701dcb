"""The service's one exception tree (no grpc imports here; the transport maps it to status codes).

    DeepfakeError                  base; never shown to users as-is unless ``public`` is True
    ├── InvalidImage               the upload is not an image we can read (bad format, truncated, ...)
    │   └── ImageTooLarge          bytes or pixels over the configured limits
    ├── InvalidRequest             a well-formed request asking for something impossible
    ├── Overloaded                 the inference queue is full; retry later
    ├── ModelNotReady              still loading or warming up, or shutting down
    ├── StorageUnavailable         the prediction history's database cannot be read right now
    ├── NotFound                   a record asked for by id does not exist
    ├── PermissionDenied           the caller's key lacks the needed permission
    ├── Unauthenticated            no valid API key was presented
    └── EngineUnavailable          an inference backend cannot run here (missing package or device)

Messages of the subclasses are written for users; INTERNAL errors (anything else) are logged with the
request id and answered with a generic message.
"""

from __future__ import annotations


class DeepfakeError(Exception):
    """Base of all errors the service raises on purpose."""


class InvalidImage(DeepfakeError):
    """The upload cannot be read as a supported image."""


class ImageTooLarge(InvalidImage):
    """The upload is over the byte or pixel limit."""


class InvalidRequest(DeepfakeError):
    """The request is well-formed but asks for something the service cannot do."""


class Overloaded(DeepfakeError):
    """The service is at capacity; the caller should retry after a short wait."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ModelNotReady(DeepfakeError):
    """The model is not loaded yet, or the server is draining."""


class StorageUnavailable(DeepfakeError):
    """The prediction history cannot be read now (predictions themselves keep working)."""


class NotFound(DeepfakeError):
    """The requested record does not exist."""


class PermissionDenied(DeepfakeError):
    """The presented credentials do not allow this call."""


class Unauthenticated(DeepfakeError):
    """The call needs credentials and none (or invalid ones) were presented."""


class EngineUnavailable(DeepfakeError):
    """An inference backend cannot run here; the message names what to install or change."""

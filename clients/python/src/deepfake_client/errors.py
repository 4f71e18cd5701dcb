"""The client's exception tree, so callers never catch raw ``grpc.RpcError``.

    DeepfakeError                 base: .code (status name), .details, .request_id
    ├── InvalidImageError         INVALID_ARGUMENT: not a readable image, too large, ...
    ├── OverloadedError           RESOURCE_EXHAUSTED: .retry_after seconds when the server said
    ├── UnavailableError          UNAVAILABLE: server down, unreachable or model not ready (after retries)
    ├── AuthenticationError       UNAUTHENTICATED: missing or invalid API key
    ├── PermissionDeniedError     PERMISSION_DENIED
    ├── NotFoundError             NOT_FOUND
    ├── DeadlineExceededError     DEADLINE_EXCEEDED: the call's timeout passed
    └── ServerError               INTERNAL, UNKNOWN and every other code

Status codes map to classes through one table, ``_ERROR_BY_CODE``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

REQUEST_ID_KEY = "x-request-id"
RETRY_AFTER_KEY = "retry-after"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


class DeepfakeError(Exception):
    """Base of every error the client raises for a failed call."""

    def __init__(self, details: str, *, code: str = "UNKNOWN", request_id: str | None = None) -> None:
        super().__init__(details)
        self.code = code
        """The gRPC status name, e.g. ``"INVALID_ARGUMENT"``."""
        self.details = details
        """The server's (or gRPC's) message."""
        self.request_id = request_id
        """The server's request id when it sent one: quote it when reporting a problem."""

    def __str__(self) -> str:
        suffix = f" (request {self.request_id})" if self.request_id else ""
        return f"{self.code}: {self.details}{suffix}"


class InvalidImageError(DeepfakeError):
    """The server could not accept the image (format, size, content)."""


class OverloadedError(DeepfakeError):
    """The server is at capacity; try again after ``retry_after`` seconds (None: the server gave no hint)."""

    def __init__(
        self, details: str, *, code: str = "RESOURCE_EXHAUSTED", request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(details, code=code, request_id=request_id)
        self.retry_after = retry_after


class UnavailableError(DeepfakeError):
    """The server cannot be reached or is not ready; the client already retried."""


class AuthenticationError(DeepfakeError):
    """No valid API key was presented."""


class PermissionDeniedError(DeepfakeError):
    """The API key does not allow this call."""


class NotFoundError(DeepfakeError):
    """The requested resource does not exist."""


class DeadlineExceededError(DeepfakeError):
    """The call did not finish within its timeout."""


class ServerError(DeepfakeError):
    """The server failed (INTERNAL, UNKNOWN) or answered with a code the client does not expect."""


_ERROR_BY_CODE: dict[grpc.StatusCode, type[DeepfakeError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidImageError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: OverloadedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


def error_from_rpc(error: grpc.RpcError) -> DeepfakeError:
    """Translate a failed call into the matching ``DeepfakeError`` (request id and retry hint included)."""
    # Errors raised by unary calls are also grpc.Call objects; anything else carries no status.
    if not isinstance(error, grpc.Call):
        return ServerError(str(error) or type(error).__name__)
    code: grpc.StatusCode = error.code()
    details: str = error.details() or code.name
    metadata = [*(error.trailing_metadata() or ()), *(error.initial_metadata() or ())]
    request_id = _first_value(metadata, REQUEST_ID_KEY)
    retry_after = _parse_seconds(_first_value(metadata, RETRY_AFTER_KEY))

    # google.rpc rich details, when the server sends them, fill what the plain metadata did not.
    rich = _rich_details(metadata)
    request_id = request_id or rich.get("request_id")
    if retry_after is None:
        retry_after = rich.get("retry_after")

    cls = _ERROR_BY_CODE.get(code, ServerError)
    if cls is OverloadedError:
        return OverloadedError(details, code=code.name, request_id=request_id, retry_after=retry_after)
    return cls(details, code=code.name, request_id=request_id)


def _first_value(metadata: Iterable[Any], key: str) -> Any:
    for entry in metadata:
        if entry.key.lower() == key:
            return entry.value
    return None


def _parse_seconds(value: Any) -> float | None:
    """A retry-after value in seconds ("2", "0.5"); HTTP dates and junk are ignored rather than fatal."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    with contextlib.suppress(ValueError):
        seconds = float(value.strip().removesuffix("s"))
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _rich_details(metadata: Iterable[Any]) -> dict[str, Any]:
    raw = _first_value(metadata, _STATUS_DETAILS_KEY)
    found: dict[str, Any] = {}
    if not isinstance(raw, bytes):
        return found
    try:
        status = status_pb2.Status.FromString(raw)
    except DecodeError:
        return found
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            found["retry_after"] = info.retry_delay.ToTimedelta().total_seconds()
        elif detail.Is(error_details_pb2.RequestInfo.DESCRIPTOR):
            request = error_details_pb2.RequestInfo()
            detail.Unpack(request)
            if request.request_id:
                found["request_id"] = request.request_id
    return found

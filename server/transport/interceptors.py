"""Request ids, access logs and the mapping of domain errors to gRPC status codes."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
from grpc_interceptor import ServerInterceptor

from server import auth, errors
from server.logs import request_id_var
from server.metrics import Metrics
from server.transport.context import caller_var

log = logging.getLogger("server.access")

# Most specific first: the first matching class decides.
STATUS_FOR_ERROR: tuple[tuple[type[errors.DeepfakeError], grpc.StatusCode], ...] = (
    (errors.InvalidImage, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.ModelNotReady, grpc.StatusCode.UNAVAILABLE),
    (errors.StorageUnavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.EngineUnavailable, grpc.StatusCode.UNAVAILABLE),
)
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def status_for(exc: errors.DeepfakeError) -> grpc.StatusCode:
    for kind, code in STATUS_FOR_ERROR:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


def request_id_from(context: grpc.ServicerContext) -> str:
    """The caller's x-request-id when it is a sane token (Envoy sets one), else a new one."""
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and _CLIENT_REQUEST_ID.match(value):
            return value
    return uuid.uuid4().hex


def _status_name(code: grpc.StatusCode) -> tuple[str, str]:
    """The failed call's status as metadata. A failed unary call carries its metadata in the response headers,
    so it survives JSON transcoding (which turns grpc-status into the HTTP status and body): REST clients get
    it as a header and Envoy's access log records it (``grpc_error``)."""
    return ("x-grpc-status", code.name)


class ServiceInterceptor(ServerInterceptor):  # type: ignore[misc]
    """Gives every call a request id (logged, returned as ``x-request-id``), writes one access-log line
    and the request metrics per call, and turns exceptions into status codes: domain errors keep their
    user-facing message, anything else becomes INTERNAL with a generic message and is logged with its
    traceback."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics

    def intercept(self, method: Callable[..., Any], request: Any, context: grpc.ServicerContext,
                  method_name: str) -> Any:
        request_id = request_id_from(context)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        if self.metrics is not None:
            self.metrics.in_flight.inc()
        code = grpc.StatusCode.OK
        trailers: list[tuple[str, str]] = [("x-request-id", request_id)]
        try:
            return method(request, context)
        except errors.DeepfakeError as exc:
            code = status_for(exc)
            if isinstance(exc, errors.Overloaded):
                trailers.append(("retry-after", str(max(1, round(exc.retry_after_s)))))
            context.set_trailing_metadata((*trailers, _status_name(code)))
            context.abort(code, str(exc))
        except Exception:
            if not context.is_active():  # the caller cancelled or its deadline passed; nobody to answer
                code = grpc.StatusCode.CANCELLED
                raise
            code = grpc.StatusCode.INTERNAL
            log.exception("unhandled error in %s", method_name)
            context.set_trailing_metadata((*trailers, _status_name(code)))
            context.abort(code, f"Internal error. Please report request id {request_id}.")
        finally:
            if code is grpc.StatusCode.OK:
                context.set_trailing_metadata(tuple(trailers))
            elapsed = time.perf_counter() - started
            if self.metrics is not None:
                self.metrics.in_flight.dec()
                self.metrics.requests.labels(method_name, code.name).inc()
                self.metrics.request_duration.labels(method_name).observe(elapsed)
            # Health probes arrive every few seconds from Envoy and Kubernetes: keep them out of INFO.
            level = logging.DEBUG if method_name.startswith("/grpc.health.") else logging.INFO
            log.log(level, "%s %s", method_name, code.name, extra={
                "rpc": method_name, "code": code.name, "duration_ms": round(elapsed * 1e3, 2), "peer": context.peer(),
            })
            request_id_var.reset(token)


# What each RPC needs when API keys are configured; RPCs not listed (health, model info, reflection) are open.
REQUIRED_PERMISSION = {
    "/deepfake.v1.DeepfakeDetector/Predict": auth.PREDICT,
    "/deepfake.v1.DeepfakeDetector/PredictUpload": auth.PREDICT,
    "/deepfake.v1.DeepfakeDetector/ListPredictions": auth.HISTORY,
    "/deepfake.v1.DeepfakeDetector/GetPrediction": auth.HISTORY,
}


class AuthInterceptor(ServerInterceptor):  # type: ignore[misc]
    """Checks the API key of calls that need one; the key's name becomes the caller's identity."""

    def __init__(self, keys: auth.KeyRing) -> None:
        self.keys = keys

    def intercept(self, method: Callable[..., Any], request: Any, context: grpc.ServicerContext,
                  method_name: str) -> Any:
        needed = REQUIRED_PERMISSION.get(method_name)
        if not self.keys or needed is None:
            return method(request, context)
        token = auth.bearer_token(context.invocation_metadata())
        key = self.keys.authenticate(token) if token else None
        if key is None:
            raise errors.Unauthenticated("A valid API key is required: send the header 'authorization: Bearer <key>'.")
        if needed not in key.permissions:
            raise errors.PermissionDenied(f"This API key may not use {needed}; ask for a key with that permission.")
        token_var = caller_var.set(key.name)
        try:
            return method(request, context)
        finally:
            caller_var.reset(token_var)

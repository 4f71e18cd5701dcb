"""The transport-level facts a request carries into the service: id, caller, cancellation."""

from __future__ import annotations

import contextvars

import grpc

from server.domain import RequestContext
from server.logs import request_id_var

# The API key's name when the call presented a valid key (set by the auth interceptor).
caller_var: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="")


def client_address(context: grpc.ServicerContext) -> str:
    """The caller's address: Envoy's view of the external client when it is in front, else the TCP peer."""
    for key, value in context.invocation_metadata() or ():
        if key == "x-envoy-external-address" and isinstance(value, str) and len(value) <= 64:
            return value
    peer = context.peer() or ""  # "ipv4:127.0.0.1:53422", "ipv6:[::1]:53422"
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer[:64]


def request_context(context: grpc.ServicerContext) -> RequestContext:
    return RequestContext(request_id=request_id_var.get(), client=caller_var.get() or client_address(context),
                          abandoned=lambda: not context.is_active())

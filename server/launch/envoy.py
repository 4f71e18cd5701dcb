"""The Envoy configuration, rendered from settings (one place for ports, limits and origins).

Envoy serves on one port: REST (gRPC-JSON transcoding of the google.api.http annotations), native gRPC
(passed through), the web UI and the API docs. What was verified about Envoy 1.40 and the reasons behind
these choices are in docs/envoy.md.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepfake.v1 import detector_pb2

SERVICE_NAME = detector_pb2.DESCRIPTOR.services_by_name["DeepfakeDetector"].full_name
MIB = 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024  # form boundaries and part headers around the image
# Predictions are idempotent: a replica that died (connect failure, reset) or is draining (gRPC UNAVAILABLE)
# has its requests retried on another one. Retried bodies must be buffered: see per-route buffer limits.
RETRY = {"retry_on": "connect-failure,refused-stream,reset,unavailable", "num_retries": 2,
         "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts", "typed_config": {
             "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}],
         "host_selection_retry_max_attempts": 3}
FILE_MANAGER = {"thread_pool": {"thread_count": 1}}  # the UI's files are few and small
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8", "js": "text/javascript", "css": "text/css", "svg": "image/svg+xml",
    "png": "image/png", "json": "application/json", "yaml": "application/yaml", "map": "application/json",
    "ico": "image/x-icon", "woff2": "font/woff2", "txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int


@dataclass(frozen=True)
class GatewaySettings:
    upstreams: tuple[Upstream, ...]
    descriptor: Path  # proto descriptor set (with imports) for the transcoder
    ui_dir: Path
    docs_dir: Path  # Swagger UI files
    openapi: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 8000
    admin_port: int = 9901
    stats_port: int = 0  # >0: expose only /stats/prometheus on listen_host (for a Prometheus elsewhere)
    cors_origins: tuple[str, ...] = ()
    rate_limit_rps: float = 20.0
    rate_limit_burst: int = 40
    max_image_mb: float = 10.0
    request_timeout_s: float = 120.0
    # TLS on the public listener (both set) and to the gRPC servers (CA set: verify them; cert/key set: mTLS).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    upstream_ca_file: str = ""
    upstream_cert_file: str = ""
    upstream_key_file: str = ""

    @property
    def raw_body_limit(self) -> int:
        return int(self.max_image_mb * MIB) + MULTIPART_OVERHEAD

    @property
    def json_body_limit(self) -> int:
        # Base64 grows the image by 4/3; the JSON around it is small.
        return int(self.max_image_mb * MIB * 4 / 3) + MULTIPART_OVERHEAD


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _typed(type_name: str, **fields: Any) -> dict[str, Any]:
    return {"@type": f"type.googleapis.com/{type_name}", **fields}


def _header(key: str, value: str) -> dict[str, Any]:
    return {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _error_mapper(status: int, grpc_code: int, message: str | None,
                  extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Envoy's own error replies as JSON in the shape of google.rpc.Status, like transcoded errors.
    ``message`` replaces Envoy's text; None keeps it (the transcoder's messages are already specific)."""
    mapper: dict[str, Any] = {
        "filter": {"status_code_filter": {"comparison": {"op": "EQ", "value": {
            "default_value": status, "runtime_key": f"local_reply.status_{status}"}}}},
        "body_format_override": {
            "json_format": {"code": grpc_code, "message": "%LOCAL_REPLY_BODY%", "http_status": "%RESPONSE_CODE%"},
            "content_type": "application/json",
        },
    }
    if message is not None:
        mapper["body"] = {"inline_string": message}
    if extra_headers:
        mapper["headers_to_add"] = [_header(k, v) for k, v in extra_headers.items()]
    return mapper


LOCAL_REPLIES = [
    _error_mapper(400, 3, None),  # e.g. the transcoder's "Could not find field ..." for unknown parameters
    _error_mapper(413, 8, "The upload is larger than the size limit (10 MB for an image)."),
    _error_mapper(429, 8, "Too many requests from this client; please retry in a moment.", {"retry-after": "1"}),
    _error_mapper(503, 14, "The detection service is unavailable or still starting; please retry shortly."),
    _error_mapper(404, 5, "No such route. See /docs for the API."),
    _error_mapper(405, 12, "This route does not accept that HTTP method. See /docs for the API."),
]


def _disabled(filter_name: str) -> dict[str, Any]:
    return {filter_name: _typed("envoy.config.route.v3.FilterConfig", disabled=True)}


def _api_route(match: dict[str, Any], body_limit: int, settings: GatewaySettings) -> dict[str, Any]:
    """A transcoded REST route with its own body limit (a clean 413 for raw, multipart, chunked bodies)."""
    return {
        "match": match,
        "route": {
            "cluster": "deepfake_grpc",
            "timeout": _seconds(settings.request_timeout_s),
            "retry_policy": RETRY,
            "rate_limits": [{"actions": [{"remote_address": {}}]}],
        },
        "typed_per_filter_config": {
            "envoy.filters.http.buffer": _typed("envoy.extensions.filters.http.buffer.v3.BufferPerRoute",
                                                buffer={"max_request_bytes": body_limit}),
        },
    }


def _file_server(path_mappings: list[dict[str, str]]) -> dict[str, Any]:
    return _typed(
        "envoy.extensions.filters.http.file_server.v3.FileServerConfig",
        manager_config=FILE_MANAGER,
        path_mappings=path_mappings,
        content_types=CONTENT_TYPES,
        default_content_type="application/octet-stream",
        directory_behaviors=[{"default_file": "index.html"}],
    )


UI_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
          "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
          "frame-ancestors 'none'")
# Swagger UI sets inline styles; everything else stays as strict as the app's policy.
DOCS_CSP = UI_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


def _static_route(prefix: str, filesystem_prefix: Path, csp: str) -> dict[str, Any]:
    """Files from disk through Envoy's file_server filter; 404 when the file does not exist."""
    return {
        "match": {"prefix": prefix},
        "direct_response": {"status": 404},
        "typed_per_filter_config": {
            **_disabled("envoy.filters.http.grpc_json_transcoder"),
            **_disabled("envoy.filters.http.buffer"),
            "envoy.filters.http.header_mutation": _typed(
                "envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute",
                mutations={"response_mutations": [{"append": _header("content-security-policy", csp)}]}),
            "envoy.filters.http.file_server": _file_server(
                [{"request_path_prefix": prefix, "file_path_prefix": str(filesystem_prefix)}]),
        },
    }


def render(settings: GatewaySettings) -> dict[str, Any]:
    s = settings
    routes: list[dict[str, Any]] = [
        # Native gRPC (and reflection) first, or a catch-all would answer it with index.html.
        {
            "match": {"prefix": "/", "grpc": {}},
            # Native gRPC skips the buffer filter: let Envoy keep up to 16 MB of a call for a retry.
            "per_request_buffer_limit_bytes": 16 * MIB,
            "route": {"cluster": "deepfake_grpc", "timeout": _seconds(s.request_timeout_s),
                      "retry_policy": RETRY,
                      "rate_limits": [{"actions": [{"remote_address": {}}]}]},
            "typed_per_filter_config": {
                **_disabled("envoy.filters.http.buffer"),
            },
        },
        _api_route({"path": "/predict"}, s.raw_body_limit, s),
        _api_route({"path": "/v1/predict:upload"}, s.raw_body_limit, s),
        _api_route({"path": "/v1/predict"}, s.json_body_limit, s),
        _api_route({"path": "/health"}, 64 * 1024, s),
        _api_route({"path": "/model-info"}, 64 * 1024, s),
        _api_route({"prefix": "/v1/"}, 64 * 1024, s),
        {"match": {"path": "/docs"}, "redirect": {"path_redirect": "/docs/"},
         "typed_per_filter_config": _disabled("envoy.filters.http.grpc_json_transcoder")},
        _static_route("/docs/", s.docs_dir, DOCS_CSP),
        {
            "match": {"path": "/openapi.yaml"},
            "direct_response": {"status": 200, "body": {"filename": str(s.openapi)}},
            "response_headers_to_add": [{"header": {"key": "content-type", "value": "application/yaml"}}],
            "typed_per_filter_config": {**_disabled("envoy.filters.http.grpc_json_transcoder"),
                                        **_disabled("envoy.filters.http.buffer")},
        },
        _static_route("/", s.ui_dir, UI_CSP),
    ]
    cors = _typed(
        "envoy.extensions.filters.http.cors.v3.CorsPolicy",
        allow_origin_string_match=[{"exact": origin} for origin in s.cors_origins],
        allow_methods="GET, POST, OPTIONS",
        allow_headers="content-type, authorization, x-request-id, x-grpc-web, grpc-timeout",
        expose_headers="x-request-id, retry-after, grpc-status, grpc-message",
        max_age="600",
    )
    tokens = max(1, round(s.rate_limit_rps))
    security_headers = [
        _header("x-content-type-options", "nosniff"), _header("x-frame-options", "DENY"),
        _header("referrer-policy", "no-referrer"),
        *([_header("strict-transport-security", "max-age=31536000")] if s.tls_cert_file else []),
    ]
    http_filters = [
        # First in the chain, so it also sees the answers of the filters after it (file server, limits):
        # on every answer no MIME sniffing, no framing (clickjacking), no referrer leaks; CSP per route.
        {"name": "envoy.filters.http.header_mutation", "typed_config": _typed(
            "envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
            mutations={"response_mutations": [{"append": h} for h in security_headers]})},
        {"name": "envoy.filters.http.cors", "typed_config": _typed("envoy.extensions.filters.http.cors.v3.Cors")},
        {
            "name": "envoy.filters.http.local_ratelimit",
            "typed_config": _typed(
                "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                stat_prefix="per_client",
                # A generous process-wide bucket; the per-client buckets below do the limiting.
                token_bucket={"max_tokens": 100_000, "tokens_per_fill": 100_000, "fill_interval": "1s"},
                filter_enabled={"default_value": {"numerator": 100, "denominator": "HUNDRED"},
                                "runtime_key": "per_client_rl_enabled"},
                filter_enforced={"default_value": {"numerator": 100, "denominator": "HUNDRED"},
                                 "runtime_key": "per_client_rl_enforced"},
                # An empty value is a wildcard: one token bucket per distinct client address.
                descriptors=[{"entries": [{"key": "remote_address", "value": ""}],
                              "token_bucket": {"max_tokens": s.rate_limit_burst, "tokens_per_fill": tokens,
                                               "fill_interval": "1s"}}],
                max_dynamic_descriptors=10_000,
                always_consume_default_token_bucket=False,
                rate_limited_as_resource_exhausted=True,
                response_headers_to_add=[_header("retry-after", "1")],
            ),
        },
        {
            "name": "envoy.filters.http.buffer",
            "typed_config": _typed("envoy.extensions.filters.http.buffer.v3.Buffer",
                                   max_request_bytes=s.json_body_limit),
        },
        {
            "name": "envoy.filters.http.grpc_json_transcoder",
            "typed_config": _typed(
                "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
                proto_descriptor=str(s.descriptor),
                services=[SERVICE_NAME],
                print_options={"add_whitespace": False, "always_print_primitive_fields": True,
                               "always_print_enums_as_ints": False, "preserve_proto_field_names": True},
                convert_grpc_status=True,
                match_incoming_request_route=True,
                request_validation_options={"reject_unknown_method": True, "reject_unknown_query_parameters": True},
                max_request_body_size=s.json_body_limit,
                max_response_body_size=64 * MIB,
            ),
        },
        {"name": "envoy.filters.http.grpc_stats",
         "typed_config": _typed("envoy.extensions.filters.http.grpc_stats.v3.FilterConfig",
                                stats_for_all_methods=True, enable_upstream_stats=True)},
        # Configured per static route (see _static_route); inactive elsewhere.
        {"name": "envoy.filters.http.file_server", "typed_config": _file_server([])},
        {"name": "envoy.filters.http.router",
         "typed_config": _typed("envoy.extensions.filters.http.router.v3.Router")},
    ]
    connection_manager = _typed(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix="ingress",
        codec_type="AUTO",
        use_remote_address=True,
        generate_request_id=True,
        always_set_request_id_in_response=True,  # the same id as the server's logs and the JSON request_id
        # Uploads of up to 10 MB must not trip the per-stream flow-control window before the buffer filter.
        http2_protocol_options={"initial_stream_window_size": 16 * MIB, "initial_connection_window_size": 32 * MIB},
        access_log=[{
            "name": "envoy.access_loggers.stdout",
            "typed_config": _typed("envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", log_format={
                # grpc_error is the server's x-grpc-status header (sent with every failed call), not
                # %GRPC_STATUS%: after JSON transcoding Envoy derives that from the HTTP status (400 -> Internal).
                "json_format": {
                    "ts": "%START_TIME%", "method": "%REQ(:METHOD)%", "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
                    "status": "%RESPONSE_CODE%", "grpc_error": "%RESP(X-GRPC-STATUS)%", "flags": "%RESPONSE_FLAGS%",
                    "bytes_in": "%BYTES_RECEIVED%", "bytes_out": "%BYTES_SENT%", "duration_ms": "%DURATION%",
                    "upstream": "%UPSTREAM_HOST%", "request_id": "%REQ(X-REQUEST-ID)%",
                    "client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
                }}),
        }],
        local_reply_config={"mappers": LOCAL_REPLIES},
        route_config={
            "name": "deepfake",
            "max_direct_response_body_size_bytes": 4 * MIB,
            "virtual_hosts": [{
                "name": "deepfake",
                "domains": ["*"],
                "routes": routes,
                "typed_per_filter_config": {"envoy.filters.http.cors": cors},

            }],
        },
        http_filters=http_filters,
    )
    by_ip = all(_is_ip(u.host) for u in s.upstreams)
    cluster = {
        "name": "deepfake_grpc",
        # Host names (compose services, Kubernetes headless Services) resolve to every replica's address.
        "type": "STATIC" if by_ip else "STRICT_DNS",
        # Re-resolve every 5 s whatever the TTL: Docker's DNS says 600 s, and replicas come and go faster.
        **({} if by_ip else {"dns_refresh_rate": "5s", "respect_dns_ttl": False}),
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": _typed(
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                explicit_http_config={"http2_protocol_options": {
                    "initial_stream_window_size": 16 * MIB, "initial_connection_window_size": 32 * MIB}},
            ),
        },
        "load_assignment": {"cluster_name": "deepfake_grpc", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": u.host, "port_value": u.port}}}}
            for u in s.upstreams
        ]}]},
        "health_checks": [{
            "timeout": "1s", "interval": "2s", "no_traffic_interval": "2s",
            "unhealthy_threshold": 2, "healthy_threshold": 1,
            "grpc_health_check": {"service_name": SERVICE_NAME},
        }],
        # A server that is down or still loading gets no traffic: 503, not a request into the void.
        "common_lb_config": {"healthy_panic_threshold": {"value": 0.0}},
        # Eject a replica only for failures Envoy itself sees (connect failure, reset, timeout): that is a
        # crashed or hung process. An answer the server sends, INTERNAL (HTTP 500) included, is an answer to
        # that request and must not take the replica out; draining and loading show in the health checks.
        "outlier_detection": {"split_external_local_origin_errors": True,
                              "consecutive_local_origin_failure": 2,
                              "enforcing_consecutive_local_origin_failure": 100,
                              "enforcing_consecutive_5xx": 0, "enforcing_consecutive_gateway_failure": 0,
                              "enforcing_success_rate": 0, "enforcing_local_origin_success_rate": 0,
                              "interval": "2s", "base_ejection_time": "10s", "max_ejection_percent": 100},
        "circuit_breakers": {"thresholds": [{"max_connections": 1024, "max_pending_requests": 1024,
                                             "max_requests": 1024, "max_retries": 16}]},
    }
    chain: dict[str, Any] = {"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                          "typed_config": connection_manager}]}
    if s.tls_cert_file:
        chain["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": _typed(
            "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            common_tls_context={
                "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
                "alpn_protocols": ["h2", "http/1.1"],
                "tls_certificates": [{"certificate_chain": {"filename": s.tls_cert_file},
                                      "private_key": {"filename": s.tls_key_file}}],
            })}
    listeners = [{
        "name": "public",
        "address": {"socket_address": {"address": s.listen_host, "port_value": s.listen_port}},
        "per_connection_buffer_limit_bytes": 1 * MIB,
        "filter_chains": [chain],
    }]
    if s.upstream_ca_file:
        upstream_tls: dict[str, Any] = {
            "validation_context": {"trusted_ca": {"filename": s.upstream_ca_file}},
            "alpn_protocols": ["h2"],
        }
        if s.upstream_cert_file:
            upstream_tls["tls_certificates"] = [{"certificate_chain": {"filename": s.upstream_cert_file},
                                                 "private_key": {"filename": s.upstream_key_file}}]
        cluster["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": _typed(
            "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", common_tls_context=upstream_tls)}
    clusters = [cluster]
    if s.stats_port:
        listeners.append(_stats_listener(s))
        clusters.append(_static_cluster("envoy_admin", "127.0.0.1", s.admin_port))
    return {
        # The admin interface can change Envoy's state: loopback only.
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": s.admin_port}}},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }


def _static_cluster(name: str, host: str, port: int) -> dict[str, Any]:
    return {"name": name, "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
        "cluster_name": name,
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
            "address": host, "port_value": port}}}}]}]}}


def _stats_listener(s: GatewaySettings) -> dict[str, Any]:
    """Only GET /stats/prometheus of the admin interface, for scrapers that are not on this host."""
    manager = _typed(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix="stats",
        route_config={"virtual_hosts": [{"name": "stats", "domains": ["*"], "routes": [
            {"match": {"path": "/stats/prometheus", "headers": [
                {"name": ":method", "string_match": {"exact": "GET"}}]},
             "route": {"cluster": "envoy_admin"}},
            {"match": {"prefix": "/"}, "direct_response": {"status": 404}},
        ]}]},
        http_filters=[{"name": "envoy.filters.http.router",
                       "typed_config": _typed("envoy.extensions.filters.http.router.v3.Router")}],
    )
    return {"name": "stats", "address": {"socket_address": {"address": s.listen_host, "port_value": s.stats_port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": manager}]}]}


def write(settings: GatewaySettings, path: Path) -> Path:
    path.write_text(json.dumps(render(settings), indent=2) + "\n")
    return path

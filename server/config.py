"""One frozen configuration object, built once at the entry point and passed down.

Every field can be set by a CLI flag (``--max-image-mb 5``) or an environment variable
(``DEEPFAKE_MAX_IMAGE_MB=5``); flags win over the environment, which wins over the defaults below.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

ENV_PREFIX = "DEEPFAKE_"
ENGINE_NAMES = ("onnxruntime", "torchscript", "aoti", "aoti-bf16", "eager", "tensorrt")  # server.engine.ENGINES
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WEIGHTS = REPO_ROOT / "weights" / "default"
DEFAULT_UI_DIR = REPO_ROOT / "clients" / "web" / "dist"
DEFAULT_VAR = REPO_ROOT / "var"
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_VAR / 'predictions.db'}"


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Config:
    # Network
    host: str = _setting("127.0.0.1", "address the gRPC server binds to (0.0.0.0 in containers)")
    port: int = _setting(50051, "gRPC port (0 picks a free one)")
    grpc_workers: int = _setting(24, "gRPC handler threads (more than max_in_flight: health checks always get one)")
    max_in_flight: int = _setting(16, "predictions handled at once; more are refused at once (RESOURCE_EXHAUSTED)")
    grace_s: float = _setting(10.0, "on SIGTERM, seconds in-flight requests get to finish")
    # Model
    weights: Path = _setting(DEFAULT_WEIGHTS, "folder with model.pt, its exports and model_spec.json")
    engine: str = _setting("onnxruntime",
                           "inference engine: onnxruntime, torchscript, aoti, aoti-bf16, eager or tensorrt")
    device: str = _setting("cpu", "cpu, cuda, cuda:N or auto")
    threads: int = _setting(0, "torch intra-op threads (0: the number of CPU cores)")
    # Dynamic batching (classification requests are grouped on the inference thread)
    batch_max_size: int = _setting(8, "most images per inference batch")
    batch_max_delay_ms: float = _setting(5.0, "how long a batch may wait for requests already on their way")
    inference_queue_size: int = _setting(64, "queued inference jobs before new requests are refused")
    # Input limits
    max_image_mb: float = _setting(10.0, "largest accepted upload, in MB")
    max_pixels: int = _setting(50_000_000, "largest accepted image area, checked before decoding")
    decode_max_side: int = _setting(2048, "JPEGs over twice this size are decoded at 1/2, 1/4 or 1/8 scale (0: off)")
    # Faces
    max_faces: int = _setting(16, "most faces classified per image (largest first)")
    face_min_confidence: float = _setting(0.9, "face detector confidence below which a detection is ignored")
    min_face_px: int = _setting(24, "faces smaller than this (shorter box side, pixels) are ignored")
    detect_max_side: int = _setting(800, "images are downscaled to this longest side for face detection")
    # Grad-CAM
    heatmap_max_side: int = _setting(768, "longest side of the returned heatmap PNG")
    # Access control and TLS
    api_keys_file: str = _setting("", "JSON file of API key hashes and permissions (python -m server.keys)")
    allow_open_network: bool = _setting(False, "serve without API keys on a non-loopback address (not advised)")
    tls_cert_file: str = _setting("", "PEM certificate chain for gRPC over TLS (with --tls-key-file)")
    tls_key_file: str = _setting("", "PEM private key for gRPC over TLS")
    tls_client_ca_file: str = _setting("", "PEM CA: require client certificates signed by it (mutual TLS)")
    # Prediction log
    database_url: str = _setting(DEFAULT_DATABASE_URL, "sqlite:///PATH (default) or postgresql://user:pass@host/db")
    retention_days: float = _setting(90.0, "prediction records older than this are deleted (0: keep forever)")
    spool_dir: Path = _setting(DEFAULT_VAR / "spool", "records wait here on disk while the database is down")
    log_queue_size: int = _setting(10_000, "records buffered in memory before they go to the spool")
    store_uploads: bool = _setting(False, "also keep uploaded images (content-addressed, by sha256)")
    upload_dir: Path = _setting(DEFAULT_VAR / "uploads", "where --store-uploads keeps images")
    # Metrics
    metrics_host: str = _setting("127.0.0.1", "address of the Prometheus /metrics endpoint")
    metrics_port: int = _setting(9100, "port of the Prometheus /metrics endpoint (0: off)")
    # REST gateway (Envoy) started by `python -m server.launch` / `make run`
    http_host: str = _setting("127.0.0.1", "address Envoy's REST + UI listener binds to")
    http_port: int = _setting(8000, "Envoy port for REST, the web UI and native gRPC")
    envoy_admin_port: int = _setting(9901, "Envoy admin (stats, /stats/prometheus) on 127.0.0.1 only")
    cors_origins: str = _setting("http://localhost:5173", "comma-separated browser origins allowed by CORS")
    rate_limit_rps: float = _setting(20.0, "REST/gRPC requests per second allowed per client address")
    rate_limit_burst: int = _setting(40, "requests a client may send at once before the rate applies")
    ui_dir: Path = _setting(DEFAULT_UI_DIR, "built web UI served at / (npm run build output)")
    replicas: int = _setting(1, "gRPC server processes behind Envoy (ports port, port+1, ...)")
    http_tls_cert_file: str = _setting("", "PEM certificate chain: Envoy serves HTTPS (with --http-tls-key-file)")
    http_tls_key_file: str = _setting("", "PEM private key for Envoy's HTTPS listener")
    envoy_upstream_ca_file: str = _setting("", "PEM CA Envoy verifies the gRPC servers' certificates with")
    envoy_upstream_cert_file: str = _setting("", "PEM client certificate Envoy presents to the servers (mTLS)")
    envoy_upstream_key_file: str = _setting("", "PEM private key of Envoy's client certificate")
    # Logging
    log_level: str = _setting("INFO", "DEBUG, INFO, WARNING or ERROR")
    log_format: str = _setting("json", "json (one object per line) or text")

    @property
    def max_image_bytes(self) -> int:
        return int(self.max_image_mb * 1024 * 1024)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        return tuple(o.strip() for o in self.cors_origins.split(",") if o.strip())


def _fields() -> list[tuple[dataclasses.Field[Any], type]]:
    hints = get_type_hints(Config)
    return [(f, hints[f.name]) for f in dataclasses.fields(Config)]


def _convert(raw: str, kind: type, name: str) -> Any:
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"{name}: expected true/false, got {raw!r}")
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name}: expected {kind.__name__}, got {raw!r}") from None


def settings_table() -> str:
    """Every setting as a markdown table (README's configuration section is this table; a test compares)."""
    rows = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for f, _kind in _fields():
        default = f.default
        if isinstance(default, Path) or (isinstance(default, str) and str(REPO_ROOT) in default):
            default = str(default).replace(str(REPO_ROOT) + "/", "")
        shown = f"`{default}`" if default not in ("", None) else "(none)"
        rows.append(f"| `--{f.name.replace('_', '-')}` | `{ENV_PREFIX}{f.name.upper()}` | {shown} | "
                    f"{f.metadata['help']} |")
    return "\n".join(rows) + "\n"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m server",
        description="Deepfake detection gRPC server. Every flag can also be set as DEEPFAKE_<FLAG> (e.g. "
        "DEEPFAKE_PORT=50052).",
    )
    for f, kind in _fields():
        flag = "--" + f.name.replace("_", "-")
        env = ENV_PREFIX + f.name.upper()
        p.add_argument(flag, dest=f.name, type=str, default=None,
                       help=f"{f.metadata['help']} [{env}, default {f.default}]", metavar=kind.__name__.upper())
    return p


def load_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Defaults, overridden by DEEPFAKE_* variables, overridden by flags."""
    environ = os.environ if environ is None else environ
    args = vars(parser().parse_args(argv))
    values: dict[str, Any] = {}
    for f, kind in _fields():
        raw = args[f.name] if args[f.name] is not None else environ.get(ENV_PREFIX + f.name.upper())
        if raw is not None:
            values[f.name] = _convert(raw, kind, f.name)
    return validate(Config(**values))


def validate(config: Config) -> Config:
    problems = []
    if not 0 <= config.port <= 65535:
        problems.append(f"port {config.port} is out of range")
    if config.engine not in ENGINE_NAMES:
        problems.append(f"engine {config.engine!r} is not one of {', '.join(ENGINE_NAMES)}")
    if config.max_in_flight < 1 or config.grpc_workers <= config.max_in_flight:
        problems.append("max_in_flight must be >= 1 and below grpc_workers")
    if config.batch_max_size < 1 or config.batch_max_delay_ms < 0 or config.inference_queue_size < 1:
        problems.append("batch_max_size and inference_queue_size must be >= 1, batch_max_delay_ms >= 0")
    if config.max_image_mb <= 0 or config.max_pixels <= 0:
        problems.append("image limits must be positive")
    if config.max_faces < 1:
        problems.append("max_faces must be at least 1")
    if config.log_format not in {"json", "text"}:
        problems.append(f"log_format {config.log_format!r} is not json or text")
    if config.rate_limit_rps <= 0 or config.rate_limit_burst < 1:
        problems.append("rate limits must be positive")
    if not config.database_url.startswith(("sqlite://", "postgresql://", "postgres://")):
        problems.append("database_url must start with sqlite:// or postgresql://")
    if config.retention_days < 0 or config.log_queue_size < 1:
        problems.append("retention_days must be >= 0 and log_queue_size >= 1")
    if not config.api_keys_file and not config.allow_open_network and not _is_loopback(config.host):
        problems.append(f"no API keys are configured, so the server only binds to a loopback address, not "
                        f"{config.host!r}: set --api-keys-file (or --allow-open-network to accept the risk)")
    if bool(config.tls_cert_file) != bool(config.tls_key_file):
        problems.append("TLS needs both --tls-cert-file and --tls-key-file")
    if config.replicas < 1:
        problems.append("replicas must be at least 1")
    if bool(config.http_tls_cert_file) != bool(config.http_tls_key_file):
        problems.append("HTTPS needs both --http-tls-cert-file and --http-tls-key-file")
    if bool(config.envoy_upstream_cert_file) != bool(config.envoy_upstream_key_file):
        problems.append("Envoy's client certificate needs --envoy-upstream-cert-file and --envoy-upstream-key-file")
    if config.tls_client_ca_file and not config.tls_cert_file:
        problems.append("--tls-client-ca-file (mutual TLS) needs --tls-cert-file and --tls-key-file")
    if problems:
        raise ValueError("invalid configuration: " + "; ".join(problems))
    return config


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

"""Server assembly (``create_server``) and the process entry point (``main``)."""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import grpc
from deepfake.v1 import detector_pb2, detector_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from server import logs
from server.allocator import tune_malloc
from server.auth import KeyRing
from server.config import Config, load_config
from server.errors import DeepfakeError
from server.metrics import Metrics
from server.service import DetectionService
from server.storage.writer import PredictionLog
from server.transport.interceptors import AuthInterceptor, ServiceInterceptor
from server.transport.servicer import DeepfakeDetectorServicer

log = logging.getLogger(__name__)

SERVICE_NAME = detector_pb2.DESCRIPTOR.services_by_name["DeepfakeDetector"].full_name
MESSAGE_LIMIT = 16 * 1024 * 1024  # room for a 10 MB image plus the request's other fields


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    service: DetectionService
    health: health.HealthServicer

    def mark_serving(self) -> None:
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace: float) -> None:
        """Health NOT_SERVING first (load balancers stop sending), then let in-flight calls finish, then
        flush the prediction log."""
        self.service.begin_shutdown()
        self.health.enter_graceful_shutdown()
        # Bounded: after the grace period gRPC aborts what is left, and shutdown must go on to the log flush.
        self.server.stop(grace).wait(grace + 5.0)
        self.service.close()
        if self.service.prediction_log is not None:
            self.service.prediction_log.close()


def build_service(config: Config) -> DetectionService:
    """The service with its metrics and prediction log, as the server runs it (nothing started yet)."""
    metrics = Metrics()
    prediction_log = PredictionLog(config.database_url, config.spool_dir, config.log_queue_size,
                                   config.retention_days, on_write_failure=lambda _n: metrics.log_failures.inc())
    metrics.track(metrics.spool_records, lambda: prediction_log.spool_records)
    metrics.track(metrics.queue_records, lambda: prediction_log.queue_records)
    return DetectionService(config, metrics, prediction_log)


def create_server(config: Config, service: DetectionService, keys: KeyRing | None = None) -> RunningServer:
    """A started gRPC server on ``config.address`` (port 0 picks a free port). Health stays NOT_SERVING
    until ``mark_serving`` is called after the model has loaded."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.grpc_workers, thread_name_prefix="grpc"),
        # Outermost first: request ids and error mapping wrap the key check, so its errors map too.
        interceptors=[ServiceInterceptor(service.metrics), AuthInterceptor(keys or KeyRing())],
        options=[
            ("grpc.max_receive_message_length", MESSAGE_LIMIT),
            ("grpc.max_send_message_length", MESSAGE_LIMIT),
            ("grpc.so_reuseport", 0),
        ],
    )
    detector_pb2_grpc.add_DeepfakeDetectorServicer_to_server(DeepfakeDetectorServicer(service), server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server
    )
    port = server.add_secure_port(config.address, _tls(config)) if config.tls_cert_file \
        else server.add_insecure_port(config.address)
    if port == 0:
        raise RuntimeError(f"could not bind the gRPC server to {config.address}")
    server.start()
    return RunningServer(server, port, service, health_servicer)


def _tls(config: Config) -> grpc.ServerCredentials:
    """Server TLS from PEM files; with a client CA, clients must present a certificate it signed (mTLS)."""
    client_ca = Path(config.tls_client_ca_file).read_bytes() if config.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(Path(config.tls_key_file).read_bytes(), Path(config.tls_cert_file).read_bytes())],
        root_certificates=client_ca, require_client_auth=client_ca is not None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = load_config(argv)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    logs.configure(config.log_level, config.log_format)
    tune_malloc()
    try:
        keys = KeyRing.load(Path(config.api_keys_file)) if config.api_keys_file else KeyRing()
    except ValueError as exc:
        log.error("cannot start: %s", exc)
        return 2
    if not keys:
        log.warning("no API keys configured: anyone who can reach %s may predict and read the history "
                    "(allowed on loopback only; set --api-keys-file)", config.address)
    service = build_service(config)
    assert service.metrics is not None and service.prediction_log is not None
    metrics_server = service.metrics.serve(config.metrics_host, config.metrics_port) if config.metrics_port else None
    service.prediction_log.start()  # a database that is down only delays the log: records are spooled
    running = create_server(config, service, keys)
    log.info("gRPC server listening on %s:%d (health NOT_SERVING until the model is loaded)", config.host, running.port)

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: draining for up to %.0f s", signal.Signals(signum).name, config.grace_s)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: every thread's stack to stderr
    try:
        service.load()
    except (DeepfakeError, FileNotFoundError, ValueError) as exc:  # configuration problems: say what, no traceback
        log.error("cannot start: %s", exc)
        running.stop(0)
        return 1
    except Exception:
        log.exception("could not load the model from %s", config.weights)
        running.stop(0)
        return 1
    running.mark_serving()
    log.info("serving%s", f"; metrics on http://{config.metrics_host}:{config.metrics_port}/metrics"
             if metrics_server else "")
    stop.wait()
    running.stop(config.grace_s)
    if metrics_server is not None:
        metrics_server.shutdown()
    log.info("stopped")
    return 0

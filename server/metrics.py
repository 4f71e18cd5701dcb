"""Prometheus metrics of the service, in a registry of its own (no module-level globals).

Names follow Prometheus conventions: base units (seconds), ``_total`` counters, and only bounded label
values (gRPC method names, status codes, pipeline stages, the three verdicts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from server.domain import VERDICTS, Prediction

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STAGES = ("decode", "faces", "inference", "gradcam", "total")


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("deepfake_requests", "RPCs handled, by method and gRPC status code.",
                                ["method", "code"], registry=r)
        self.request_duration = Histogram("deepfake_request_duration_seconds", "RPC latency, by method.",
                                          ["method"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("deepfake_requests_in_flight", "RPCs being handled right now.", registry=r)
        self.stage_duration = Histogram("deepfake_stage_duration_seconds", "Time per pipeline stage of a prediction.",
                                        ["stage"], buckets=LATENCY_BUCKETS, registry=r)
        self.faces = Histogram("deepfake_faces_per_image", "Faces classified per image (0: none found).",
                               buckets=(0, 1, 2, 3, 4, 6, 8, 12, 16), registry=r)
        self.predictions = Counter("deepfake_predictions", "Image verdicts: Real, Deepfake or Uncertain.", ["verdict"],
                                   registry=r)
        self.fake_probability = Histogram(
            "deepfake_fake_probability", "Calibrated deepfake probability of each image (watch it for drift).",
            buckets=tuple(round(0.1 * i, 1) for i in range(1, 11)), registry=r)
        self.model_info = Gauge("deepfake_model_info", "The model being served (value 1).",
                                ["model", "weights_sha256", "engine", "device", "version"], registry=r)
        self.batch_size = Histogram("deepfake_inference_batch_size", "Images per inference batch.",
                                    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32), registry=r)
        self.queue_depth = Gauge("deepfake_inference_queue_depth", "Jobs waiting for the inference worker.",
                                 registry=r)
        self.log_failures = Counter("deepfake_prediction_log_write_failures",
                                    "Failed database writes of the prediction log (the records were spooled).",
                                    registry=r)
        self.spool_records = Gauge("deepfake_prediction_log_spool_records",
                                   "Prediction records waiting on disk for the database.", registry=r)
        self.queue_records = Gauge("deepfake_prediction_log_queue_records",
                                   "Prediction records waiting in memory for the writer.", registry=r)
        for verdict in VERDICTS:
            self.predictions.labels(verdict)  # export zeros, so rate() works from the first scrape
        for stage in STAGES:
            self.stage_duration.labels(stage)

    def observe_prediction(self, p: Prediction) -> None:
        t = p.timings
        for stage, ms in (("decode", t.decode_ms), ("faces", t.faces_ms), ("inference", t.inference_ms),
                          ("gradcam", t.gradcam_ms), ("total", t.total_ms)):
            if ms or stage in ("decode", "total"):
                self.stage_duration.labels(stage).observe(ms / 1000.0)
        self.faces.observe(len(p.faces))
        self.predictions.labels(p.verdict).inc()
        self.fake_probability.observe(p.fake_probability)

    def observe_batch(self, size: int, _seconds: float) -> None:
        self.batch_size.observe(size)

    def track(self, gauge: Gauge, read: Callable[[], float]) -> None:
        """Let ``gauge`` read its value at scrape time (queue depths live in other objects)."""
        gauge.set_function(read)

    def serve(self, host: str, port: int) -> Any:
        """Start the /metrics HTTP endpoint on a thread of its own; returns the server (``shutdown()``)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server

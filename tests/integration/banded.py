"""A real server whose model spec has an uncertain band, with Envoy (REST and the web UI) in front of it.

The band is placed around probabilities the shipped model gives known images (asked of the shared server
without a band first), so the tests hold for any shipped weights: a real DFDC crop and a photo's face fall
inside it, a clearly real and a clearly fake crop outside.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc

from server.app import MESSAGE_LIMIT, RunningServer, build_service, create_server
from server.config import Config
from server.model.spec import UncertainBand
from tests.integration.gateway import Envoy, settings_for
from tests.weights import shipped_weights_with_band

Stub = detector_pb2_grpc.DeepfakeDetectorStub
UNSURE_CROP = "real/aaferzprat.jpg"  # shipped model: about 0.31
REAL_CROP = "real/aabqyygbaa.jpg"  # about 0.003
FAKE_CROP = "fake/aabdogagch.jpg"  # about 0.99
UNSURE_PHOTO = "paul_rudd.jpg"  # one face, about 0.52
MARGIN = 0.05
CHANNEL_OPTIONS = [("grpc.max_send_message_length", MESSAGE_LIMIT), ("grpc.max_receive_message_length", MESSAGE_LIMIT)]


@dataclass(frozen=True)
class Banded:
    server: RunningServer
    stub: Stub
    envoy: Envoy
    band: UncertainBand
    threshold: float
    probability: dict[str, float]  # image -> probability from the server without a band


@contextmanager
def banded_server(stub: Stub, dfdc_dir: Path, photos_dir: Path, var: Path) -> Iterator[Banded]:
    """``stub``: a server with the shipped model (its probabilities place the band); ``var``: a work folder."""
    probability = {
        name: stub.Predict(pb.PredictRequest(image=(dfdc_dir / name).read_bytes(), is_face_crop=True),
                           timeout=60).fake_probability
        for name in (UNSURE_CROP, REAL_CROP, FAKE_CROP)
    }
    photo = stub.Predict(pb.PredictRequest(image=(photos_dir / UNSURE_PHOTO).read_bytes()), timeout=60)
    assert len(photo.faces) == 1
    probability[UNSURE_PHOTO] = photo.faces[0].fake_probability
    threshold = photo.threshold
    inside = (probability[UNSURE_CROP], probability[UNSURE_PHOTO], threshold)
    band = UncertainBand(low=max(0.0, min(inside) - MARGIN), high=min(1.0, max(inside) + MARGIN),
                         target_precision=0.95, fitted_on="test: around known images",
                         measured={"uncertain_share": 0.25, "precision_real": 0.97, "precision_deepfake": 0.95})
    if not (probability[REAL_CROP] < band.low and probability[FAKE_CROP] >= band.high):
        raise AssertionError(f"pick other images: these fall inside {band}: {probability}")

    weights = shipped_weights_with_band(var / "weights", band)
    config = Config(port=0, weights=weights, database_url=f"sqlite:///{var / 'predictions.db'}",
                    spool_dir=var / "spool", metrics_port=0)
    service = build_service(config)
    assert service.prediction_log is not None
    service.prediction_log.start()
    service.load()
    server = create_server(config, service)
    server.mark_serving()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}", options=CHANNEL_OPTIONS) as channel, \
                Envoy(settings_for(server.port), var) as envoy:
            yield Banded(server, detector_pb2_grpc.DeepfakeDetectorStub(channel), envoy, band, threshold, probability)
    finally:
        server.stop(1.0)

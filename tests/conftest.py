"""Shared fixtures: the shared data, small real datasets, small generated weights, and a real server with
Envoy in front of it (session-scoped: the model loads once)."""

from __future__ import annotations

import csv
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import torch
from deepfake.v1 import detector_pb2_grpc

from server.app import MESSAGE_LIMIT, RunningServer, build_service, create_server
from server.config import Config
from server.model.factory import create_model, get_architecture
from server.model.spec import WEIGHTS_FILENAME, ModelSpec, sha256_file
from tests.integration.banded import Banded, banded_server
from tests.integration.gateway import Envoy, settings_for

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """``../shared/data`` beside the checkout (or $DEEPFAKE_SHARED_DATA); tests need the real data."""
    candidates = [os.environ.get("DEEPFAKE_SHARED_DATA", ""), REPO.parent / "shared" / "data", "/work/shared/data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "dfdc-faces" / "manifest.csv").exists():
            return Path(candidate)
    raise RuntimeError("shared data not found: set DEEPFAKE_SHARED_DATA to the folder holding dfdc-faces/")


@pytest.fixture(scope="session")
def dfdc_dir() -> Path:
    return shared_data_root() / "dfdc-faces"


@pytest.fixture(scope="session")
def photos_dir() -> Path:
    return shared_data_root() / "photos"


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory, dfdc_dir: Path) -> Path:
    """48 real DFDC crops (real/ + deepfake/) with a manifest splitting them by identity unit."""
    root = tmp_path_factory.mktemp("tiny-dfdc")
    with open(dfdc_dir / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rng = random.Random(7)
    picked = []
    for split in ("train", "val"):
        for label in ("REAL", "FAKE"):
            pool = [r for r in rows if r["split"] == split and r["label"] == label]
            picked += rng.sample(pool, 16 if split == "train" else 8)
    for folder in ("real", "deepfake"):
        (root / folder).mkdir()
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label", "split", "split_unit"])
        writer.writeheader()
        for r in picked:
            target = ("real/" if r["label"] == "REAL" else "deepfake/") + Path(r["path"]).name
            shutil.copy(dfdc_dir / r["path"], root / target)
            writer.writerow({"path": target, "label": r["label"], "split": r["split"], "split_unit": r["split_unit"]})
    return root


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained EfficientNet-Lite0 with a valid spec: fast to make, real in shape and code path."""
    out = tmp_path_factory.mktemp("random-weights")
    torch.manual_seed(0)
    model = create_model("efficientnet_lite0")
    torch.save(model.state_dict(), out / WEIGHTS_FILENAME)
    arch = get_architecture("efficientnet_lite0")
    spec = ModelSpec(architecture=arch.name, input_size=arch.input_size, mean=arch.mean, std=arch.std,
                     name="random-lite0", weights_sha256=sha256_file(out / WEIGHTS_FILENAME))
    spec.save(out)
    return out


CHANNEL_OPTIONS = [("grpc.max_send_message_length", MESSAGE_LIMIT), ("grpc.max_receive_message_length", MESSAGE_LIMIT)]


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The real server with the shipped model, a SQLite prediction log and a /metrics endpoint."""
    var = tmp_path_factory.mktemp("server-var")
    config = Config(port=0, database_url=f"sqlite:///{var / 'predictions.db'}",
                    spool_dir=var / "spool", metrics_port=0)
    service = build_service(config)
    assert service.prediction_log is not None and service.metrics is not None
    service.prediction_log.start()
    service.load()
    running = create_server(config, service)
    running.mark_serving()
    yield running
    running.stop(1.0)


@pytest.fixture(scope="session")
def channel(served: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{served.port}", options=CHANNEL_OPTIONS) as ch:
        yield ch


@pytest.fixture(scope="session")
def stub(channel: grpc.Channel) -> detector_pb2_grpc.DeepfakeDetectorStub:
    return detector_pb2_grpc.DeepfakeDetectorStub(channel)


@pytest.fixture(scope="session")
def gateway(served: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Envoy]:
    """Envoy in front of the shared server, as `make run` configures it."""
    with Envoy(settings_for(served.port), tmp_path_factory.mktemp("envoy")) as envoy:
        yield envoy


@pytest.fixture(scope="session")
def banded(stub: detector_pb2_grpc.DeepfakeDetectorStub, dfdc_dir: Path, photos_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Banded]:
    """A second real server (with Envoy) whose spec has an uncertain band around known images' probabilities."""
    with banded_server(stub, dfdc_dir, photos_dir, tmp_path_factory.mktemp("banded")) as running:
        yield running

"""A real gRPC server on a free port, serving the shipped model, shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from deepfake.v1 import detector_pb2_grpc

from server.app import MESSAGE_LIMIT, RunningServer, create_server
from server.config import Config
from server.service import DetectionService

CHANNEL_OPTIONS = [("grpc.max_send_message_length", MESSAGE_LIMIT), ("grpc.max_receive_message_length", MESSAGE_LIMIT)]


@pytest.fixture(scope="session")
def served() -> Iterator[RunningServer]:
    config = Config(port=0, grpc_workers=8)
    service = DetectionService(config)
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

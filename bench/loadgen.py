"""A closed-loop gRPC load generator: N client threads each send requests back to back for a duration."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
import numpy as np
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc as pb_grpc

from server.app import MESSAGE_LIMIT


@dataclass(frozen=True)
class Payload:
    data: bytes
    is_face_crop: bool


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: np.ndarray

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if len(self.latencies_ms) else float("nan")

    def row(self) -> str:
        return (f"c={self.concurrency:<3} {self.throughput:7.1f} req/s  p50 {self.percentile(50):7.1f} ms  "
                f"p95 {self.percentile(95):7.1f} ms  p99 {self.percentile(99):7.1f} ms  "
                f"({self.requests} ok, {self.errors} errors)")


def run_load(target: str, payloads: Sequence[Payload], concurrency: int, seconds: float,
             explain: bool = False, warmup: int = 2) -> LoadResult:
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", MESSAGE_LIMIT),
                                                ("grpc.max_receive_message_length", MESSAGE_LIMIT)]) as channel:
        stub = pb_grpc.DeepfakeDetectorStub(channel)
        requests = [pb.PredictRequest(image=p.data, is_face_crop=p.is_face_crop, explain=explain) for p in payloads]
        for request in requests[:warmup]:
            stub.Predict(request, timeout=120)
        counter = itertools.count()
        latencies: list[float] = []
        errors = [0]
        lock = threading.Lock()
        stop_at = time.perf_counter() + seconds

        def worker() -> None:
            while time.perf_counter() < stop_at:
                request = requests[next(counter) % len(requests)]
                started = time.perf_counter()
                try:
                    stub.Predict(request, timeout=120)
                except grpc.RpcError:
                    with lock:
                        errors[0] += 1
                    continue
                with lock:
                    latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    return LoadResult(concurrency, len(latencies), errors[0], elapsed, np.array(latencies))

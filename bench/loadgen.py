"""A closed-loop gRPC load generator: N concurrent clients send requests back to back for a duration.

It uses grpc.aio on one event loop: on a 2-core machine that shares its cores with the server, an
asyncio client costs far less CPU per request than a thread per client.
"""

from __future__ import annotations

import asyncio
import itertools
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


async def _load(target: str, payloads: Sequence[Payload], concurrency: int, seconds: float, explain: bool,
                warmup: int) -> LoadResult:
    options = [("grpc.max_send_message_length", MESSAGE_LIMIT), ("grpc.max_receive_message_length", MESSAGE_LIMIT)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        stub = pb_grpc.DeepfakeDetectorStub(channel)
        requests = [pb.PredictRequest(image=p.data, is_face_crop=p.is_face_crop, explain=explain) for p in payloads]
        for request in requests[:warmup]:
            await stub.Predict(request, timeout=120)
        counter = itertools.count()
        latencies: list[float] = []
        errors = 0
        stop_at = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                request = requests[next(counter) % len(requests)]
                started = time.perf_counter()
                try:
                    await stub.Predict(request, timeout=120)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return LoadResult(concurrency, len(latencies), errors, elapsed, np.array(latencies))


def run_load(target: str, payloads: Sequence[Payload], concurrency: int, seconds: float,
             explain: bool = False, warmup: int = 2) -> LoadResult:
    return asyncio.run(_load(target, payloads, concurrency, seconds, explain, warmup))

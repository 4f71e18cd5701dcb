"""``python -m bench``: measure the service and print a report (``make bench``).

Runs, in one go, on real DFDC face crops and full-size photos:
  - the raw engine alone (batch-1 latency and its best batch throughput),
  - the real server (``python -m server``) under closed-loop load at several concurrencies,
  - Grad-CAM requests against plain ones,
  - a naive server built like the original app (eager PyTorch, one request at a time), same weights,
and checks the targets. ``--write docs/benchmarks.md`` also saves the report as markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.loadgen import LoadResult, Payload, run_load
from server.config import DEFAULT_WEIGHTS, REPO_ROOT
from server.engine import load_engine
from server.imaging.decode import ImageLimits, decode_image
from server.model.preprocess import images_to_batch
from server.model.spec import ModelSpec

DATA = REPO_ROOT.parent / "shared" / "data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Process:
    """A server started as its own process, as `make run` starts it."""

    argv: list[str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Process:
        self.proc = subprocess.Popen([*self.argv, "--port", str(self.port)], cwd=REPO_ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as channel:
            while time.monotonic() < deadline:
                try:
                    grpc.channel_ready_future(channel).result(timeout=1)
                    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
                    if status.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError as exc:
                    if exc.code() == grpc.StatusCode.UNIMPLEMENTED:  # the naive server has no health service
                        return
                except grpc.FutureTimeoutError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"{self.argv} did not become ready")

    def memory_mb(self) -> tuple[float, float]:
        """Resident set size now and at its peak (VmHWM), in MB."""
        assert self.proc is not None
        values = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]


def face_crops(count: int) -> list[bytes]:
    paths = sorted((DATA / "dfdc-faces" / "real").glob("*.jpg"))[:count // 2]
    paths += sorted((DATA / "dfdc-faces" / "fake").glob("*.jpg"))[:count - len(paths)]
    random.Random(0).shuffle(paths)
    return [p.read_bytes() for p in paths]


def photos() -> list[bytes]:
    return [p.read_bytes() for p in sorted((DATA / "photos").glob("*.jpg"))]


def measure_engine(crops: Sequence[bytes], seconds: float) -> dict[str, float]:
    """The TorchScript engine alone on preprocessed crops: batch-1 latency and throughput per batch size."""
    torch.set_num_threads(os.cpu_count() or 1)
    spec = ModelSpec.load(DEFAULT_WEIGHTS)
    engine = load_engine("torchscript", DEFAULT_WEIGHTS, spec, torch.device("cpu"))
    engine.warmup()
    images = [decode_image(c, ImageLimits()).image for c in crops[:16]]
    out: dict[str, float] = {}
    for size in (1, 2, 4, 8, 16):
        batch = images_to_batch(images[:size], spec)
        engine.run(batch)
        runs, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            engine.run(batch)
            runs += 1
        elapsed = time.perf_counter() - started
        out[f"batch{size}_ms"] = elapsed / runs * 1000
        out[f"batch{size}_img_s"] = runs * size / elapsed
    decode_started = time.perf_counter()
    for c in crops[:32]:
        images_to_batch([decode_image(c, ImageLimits()).image], spec)
    out["crop_decode_ms"] = (time.perf_counter() - decode_started) / 32 * 1000
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each load run")
    parser.add_argument("--write", type=Path, help="also write the report as markdown to this file")
    args = parser.parse_args(argv)
    seconds = args.seconds

    crops = [Payload(c, True) for c in face_crops(64)]
    full = [Payload(p, False) for p in photos()]
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, torch {torch.__version__}")
    say(f"data: {len(crops)} DFDC face crops (224x224 JPEG), {len(full)} full-size photos; {seconds:.0f} s per run")
    say()
    engine = measure_engine([p.data for p in crops], min(seconds, 4.0))
    best_size = max((1, 2, 4, 8, 16), key=lambda s: engine[f"batch{s}_img_s"])
    say("## Raw engine (TorchScript, in-process)")
    for size in (1, 2, 4, 8, 16):
        say(f"batch {size:>2}: {engine[f'batch{size}_ms']:6.1f} ms/batch  {engine[f'batch{size}_img_s']:6.1f} img/s")
    say(f"crop decode + preprocess: {engine['crop_decode_ms']:.1f} ms")
    say()

    results: dict[str, LoadResult] = {}
    with Process([sys.executable, "-m", "server"]) as server:
        rss_idle, _ = server.memory_mb()
        say("## Served: face crops (is_face_crop, no face detection)")
        for c in (1, 8, 16):
            results[f"crops_c{c}"] = r = run_load(server.target, crops, c, seconds)
            say(r.row())
        say("## Served: full-size photos (face detection)")
        for c in (1, 8):
            results[f"photos_c{c}"] = r = run_load(server.target, full, c, seconds)
            say(r.row())
        say("## Served with Grad-CAM (explain=true)")
        results["crops_explain_c1"] = r = run_load(server.target, crops, 1, seconds, explain=True)
        say("crops  " + r.row())
        results["photos_explain_c1"] = r = run_load(server.target, full, 1, seconds, explain=True)
        say("photos " + r.row())
        rss_now, rss_peak = server.memory_mb()
        say(f"server memory: {rss_idle:.0f} MB after start, {rss_now:.0f} MB now, peak {rss_peak:.0f} MB")
    say()
    with Process([sys.executable, "-m", "bench.naive_server"]) as naive:
        say("## Naive server (original app design: eager, one request at a time) on face crops")
        for c in (1, 8, 16):
            results[f"naive_c{c}"] = r = run_load(naive.target, crops, c, seconds)
            say(r.row())
    say()

    plain_crop, plain_photo = results["crops_c1"].percentile(50), results["photos_c1"].percentile(50)
    cam_crop, cam_photo = results["crops_explain_c1"].percentile(50), results["photos_explain_c1"].percentile(50)
    best = engine[f"batch{best_size}_img_s"]
    ours8, ours16 = results["crops_c8"].throughput, results["crops_c16"].throughput
    naive8, naive16 = results["naive_c8"].throughput, results["naive_c16"].throughput
    checks = [
        ("face-crop Predict p50 at c=1 <= 1.5x the engine's batch-1 forward", plain_crop <= 1.5 * engine["batch1_ms"],
         f"{plain_crop:.1f} ms vs 1.5 x {engine['batch1_ms']:.1f} ms"),
        ("throughput at c=8 >= 2x the naive server at c=8", ours8 >= 2 * naive8,
         f"{ours8:.1f} vs 2 x {naive8:.1f} req/s"),
        ("Grad-CAM p50 <= 3x a plain request (face crops)", cam_crop <= 3 * plain_crop,
         f"{cam_crop:.1f} vs 3 x {plain_crop:.1f} ms"),
        ("Grad-CAM p50 <= 3x a plain request (photos)", cam_photo <= 3 * plain_photo,
         f"{cam_photo:.1f} vs 3 x {plain_photo:.1f} ms"),
        ("server peak RSS < 1.5 GB", rss_peak < 1536, f"{rss_peak:.0f} MB"),
        ("served c=16 >= 80% of the raw engine's best throughput", ours16 >= 0.8 * best,
         f"{ours16:.1f} vs 0.8 x {best:.1f} img/s (batch {best_size})"),
        ("served c=16 >= 5x the naive server at c=16", ours16 >= 5 * naive16,
         f"{ours16:.1f} vs 5 x {naive16:.1f} req/s"),
    ]
    say("## Targets")
    for name, ok, detail in checks:
        say(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    if args.write:
        args.write.write_text("# Benchmarks\n\n```\n" + "\n".join(lines) + "\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

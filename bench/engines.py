"""The inference engines side by side: throughput per batch size and val AUC against eager fp32.

    python -m bench.engines [--seconds 3] [--auc-images 2531]

Each engine runs on a thread of its own, as in the server (loaded, warmed and run there), with the
server's malloc settings and torch threads. An engine qualifies as the CPU default only when its val AUC
is within 0.002 of eager fp32.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image

from server.allocator import tune_malloc
from server.config import DEFAULT_WEIGHTS, REPO_ROOT
from server.engine import ENGINES, Engine, load_engine
from server.engine.aoti import cpu_has_native_bf16
from server.errors import EngineUnavailable
from server.model.preprocess import images_to_batch
from server.model.spec import SPEC_FILENAME, ModelSpec
from training.dataset import discover, select
from training.metrics import classification_metrics, probabilities

DATA = REPO_ROOT.parent / "shared" / "data"
CPU_ENGINES = ("eager", "torchscript", "onnxruntime", "aoti", "aoti-bf16")
COMPILED_HERE = ("aoti", "aoti-bf16")  # machine-specific packages, compiled by the bench, not shipped
BATCH_SIZES = (1, 2, 4, 8, 16)
T = TypeVar("T")


@dataclass
class EngineReport:
    name: str
    available: bool = True
    reason: str = ""
    batch_ms: dict[int, float] = field(default_factory=dict)
    images_per_s: dict[int, float] = field(default_factory=dict)
    cpu_ms_per_image: dict[int, float] = field(default_factory=dict)  # CPU time of all the engine's threads
    auc: float = float("nan")
    accuracy: float = float("nan")

    @property
    def best_batch(self) -> int:
        return max(self.images_per_s, key=lambda b: self.images_per_s[b])


def on_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` on a fresh thread, like the server's inference worker (torch's OpenMP pool per thread)."""
    result: Future[T] = Future()

    def run() -> None:
        try:
            result.set_result(fn())
        except BaseException as exc:  # reported to the caller
            result.set_exception(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result.result()


def measure(name: str, weights: Path, spec: ModelSpec, images: Sequence[Image.Image], labels: np.ndarray,
            seconds: float) -> EngineReport:
    report = EngineReport(name)

    def work() -> None:
        engine: Engine = load_engine(name, weights, spec, torch.device("cpu"))
        engine.warmup()
        for size in BATCH_SIZES:
            batch = images_to_batch(images[:size], spec)
            engine.run(batch)
            runs, started, cpu_started = 0, time.perf_counter(), time.process_time()
            while time.perf_counter() - started < seconds:
                engine.run(batch)
                runs += 1
            elapsed = time.perf_counter() - started
            report.batch_ms[size] = elapsed / runs * 1000
            report.images_per_s[size] = runs * size / elapsed
            report.cpu_ms_per_image[size] = (time.process_time() - cpu_started) / (runs * size) * 1000
        logits = np.concatenate([engine.run(images_to_batch(images[i:i + 16], spec)).numpy()
                                 for i in range(0, len(images), 16)])
        m = classification_metrics(labels, probabilities(logits, spec.calibration), spec.threshold)
        report.auc, report.accuracy = m["auc"], m["accuracy"]

    try:
        on_thread(work)
    except EngineUnavailable as exc:
        report.available, report.reason = False, str(exc)
    return report


def val_images(count: int) -> tuple[list[Image.Image], np.ndarray]:
    samples = select(discover(DATA / "dfdc-faces"), "val")[:count]
    return [Image.open(s.path).convert("RGB") for s in samples], np.array([s.label for s in samples])


def weights_for(engine: str) -> Path:
    """The weights folder an engine loads from: for AOTInductor, a copy of the default weights with a package
    compiled on this machine (not shipped: it is specific to the torch version and CPU), compiled once into
    build/ (about a minute, plus a val AUC check for bf16)."""
    if engine not in COMPILED_HERE:
        return DEFAULT_WEIGHTS
    out = REPO_ROOT / "build" / "bench" / engine
    compiled = ModelSpec.load(out).artifacts.get(engine, {}) if (out / SPEC_FILENAME).exists() else {}
    if compiled.get("torch") != torch.__version__:
        from export.__main__ import export

        export(DEFAULT_WEIGHTS, out, engine, "cpu", DATA / "dfdc-faces", 64, None)
    return out


def run_engines(seconds: float, auc_images: int, names: Sequence[str] = CPU_ENGINES) -> list[EngineReport]:
    """Each engine in a process of its own: no thread pool of one engine (OpenMP, ONNX Runtime's spinning
    workers) can slow the next one down. bf16 is measured only where the CPU has native bf16."""
    reports = []
    for name in names:
        if name == "aoti-bf16" and not cpu_has_native_bf16():
            reports.append(EngineReport(name, available=False, reason="this CPU has no native bf16 (AVX512-BF16 "
                                        "or AMX); emulated bf16 is slower than fp32, so it is not measured"))
            continue
        weights = weights_for(name)
        result = subprocess.run(
            [sys.executable, "-m", "bench.engines", "--one", name, "--weights", str(weights), "--seconds",
             str(seconds), "--auc-images", str(auc_images)], cwd=REPO_ROOT, capture_output=True, text=True,
            check=True)
        data = json.loads(result.stdout.strip().splitlines()[-1])
        reports.append(EngineReport(
            name=data["name"], available=data["available"], reason=data["reason"],
            batch_ms={int(k): v for k, v in data["batch_ms"].items()},
            images_per_s={int(k): v for k, v in data["images_per_s"].items()},
            cpu_ms_per_image={int(k): v for k, v in data["cpu_ms_per_image"].items()}, auc=data["auc"],
            accuracy=data["accuracy"]))
    return reports


def _measure_one(name: str, weights: Path, seconds: float, auc_images: int) -> EngineReport:
    tune_malloc()
    torch.set_num_threads(os.cpu_count() or 1)
    images, labels = val_images(auc_images)
    return measure(name, weights, ModelSpec.load(weights), images, labels, seconds)


def fastest_eligible(reports: Sequence[EngineReport]) -> EngineReport:
    """The engine fastest alone (at batch 1 plus at its best batch) whose AUC is within 0.002 of eager fp32."""
    eager = next(r for r in reports if r.name == "eager")
    eligible = [r for r in reports if r.available and abs(r.auc - eager.auc) <= 0.002]
    return max(eligible, key=lambda r: (r.images_per_s[1] + r.images_per_s[r.best_batch]))


def format_reports(reports: Sequence[EngineReport]) -> list[str]:
    header = ("engine        " + "".join(f"  b={b:<2} img/s" for b in BATCH_SIZES)
              + "   b=1 ms   CPU ms/img at best b   val AUC")
    lines = [header]
    for r in reports:
        if not r.available:
            lines.append(f"{r.name:<13} not available: {r.reason}")
            continue
        lines.append(f"{r.name:<13} " + "".join(f"  {r.images_per_s[b]:>11.1f}" for b in BATCH_SIZES)
                     + f"   {r.batch_ms[1]:6.1f}   {r.cpu_ms_per_image[r.best_batch]:20.2f}   {r.auc:.4f}")
    lines.append(f"engines known to the server: {', '.join(ENGINES)}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engines", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--auc-images", type=int, default=2531, help="val crops for the AUC check (all: 2531)")
    parser.add_argument("--one", choices=CPU_ENGINES, help=argparse.SUPPRESS)  # internal: measure one engine
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(dataclasses.asdict(_measure_one(args.one, args.weights, args.seconds, args.auc_images))))
        return 0
    reports = run_engines(args.seconds, args.auc_images)
    for line in format_reports(reports):
        print(line)
    best = fastest_eligible(reports)
    print(f"fastest engine within 0.002 AUC of eager fp32: {best.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

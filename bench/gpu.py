"""``python -m bench.gpu``: the GPU path, verified and measured in one run on a CUDA machine.

    python -m bench.gpu --data DIR --out report-dir

DIR holds ``crops/*.jpg`` (real face crops) and ``photos/*.jpg``. The script checks, on the GPU:
engines (eager, TorchScript, AOTInductor compiled here; TensorRT when torch-tensorrt is installed) for
parity with eager fp32 on the CPU and for throughput per batch size; then the whole detection service on
CUDA (MTCNN, batching, Grad-CAM on the GPU) against the same service on the CPU. It writes gpu.json and
gpu.md to the output folder.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from export.verify import calibrated_probabilities
from server.config import DEFAULT_WEIGHTS, Config
from server.domain import RequestContext
from server.engine import load_engine
from server.errors import EngineUnavailable
from server.model.preprocess import images_to_batch
from server.model.spec import ModelSpec
from server.service import DetectionService

BATCHES = (1, 8, 32, 64)


def engines(weights: Path, crops: list[Image.Image], seconds: float, names: Sequence[str]) -> dict[str, Any]:
    spec = ModelSpec.load(weights)
    cuda = torch.device("cuda")
    batch = images_to_batch(crops[:64], spec)
    reference = calibrated_probabilities(load_engine("eager", weights, spec, torch.device("cpu")).run(batch), spec)
    work = Path(tempfile.mkdtemp(prefix="gpu-weights-"))
    for item in weights.iterdir():
        shutil.copy2(item, work / item.name)
    results: dict[str, Any] = {}
    for name in names:
        entry: dict[str, Any] = {}
        try:
            if name in ("aoti", "tensorrt"):
                from export.__main__ import export

                started = time.perf_counter()
                export(work, work, name, "cuda", _crop_dir(crops, work), 32, None)
                entry["export_s"] = round(time.perf_counter() - started, 1)
            engine = load_engine(name, work, ModelSpec.load(work), cuda)
            engine.warmup((1, 8))
            got = calibrated_probabilities(engine.run(batch), spec)
            entry["max_abs_diff_vs_cpu_eager"] = float((got - reference).abs().max())
            for size in BATCHES:
                x = torch.cat([batch] * (size // len(batch) + 1))[:size]
                engine.run(x)
                torch.cuda.synchronize()
                runs, started = 0, time.perf_counter()
                while time.perf_counter() - started < seconds:
                    engine.run(x)
                    runs += 1
                elapsed = time.perf_counter() - started
                entry[f"batch{size}_ms"] = round(elapsed / runs * 1000, 3)
                entry[f"batch{size}_img_s"] = round(runs * size / elapsed, 1)
        except (EngineUnavailable, ValueError, RuntimeError) as exc:
            entry["unavailable"] = str(exc)[:500]
        results[name] = entry
    return results


def _crop_dir(crops: list[Image.Image], work: Path) -> Path:
    """A tiny dataset folder (real/ only) for the export's parity check."""
    folder = work / "check-data"
    (folder / "real").mkdir(parents=True, exist_ok=True)
    for i, crop in enumerate(crops[:32]):
        crop.save(folder / "real" / f"{i}.jpg", quality=95)
    return folder


def service(device: str, engine: str, photos: list[bytes], crops: list[bytes]) -> dict[str, Any]:
    config = Config(device=device, engine=engine, metrics_port=0)
    svc = DetectionService(config)
    started = time.perf_counter()
    svc.load()
    out: dict[str, Any] = {"load_s": round(time.perf_counter() - started, 1), "photos": []}
    ctx = RequestContext(request_id="gpu-check")
    for data in photos:
        plain = svc.predict(data, "photo.jpg", False, False, ctx)
        explained = svc.predict(data, "photo.jpg", True, False, ctx)
        out["photos"].append({
            "faces": len(plain.faces), "fake_probability": plain.fake_probability,
            "explained_fake_probability": explained.fake_probability, "heatmap_bytes": len(explained.heatmap_png),
            "total_ms": plain.timings.total_ms, "faces_ms": plain.timings.faces_ms,
            "explain_total_ms": explained.timings.total_ms,
        })
    latencies = []
    for data in crops[:20]:
        result = svc.predict(data, "crop.jpg", False, True, ctx)
        latencies.append(result.timings.total_ms)
    out["crop_p50_ms_c1"] = round(statistics.median(latencies), 2)
    with ThreadPoolExecutor(16) as pool:
        started = time.perf_counter()
        list(pool.map(lambda d: svc.predict(d, "crop.jpg", False, True, ctx), crops * 4))
        out["crops_per_s_c16"] = round(len(crops) * 4 / (time.perf_counter() - started), 1)
    out["batches"] = {"count": svc.worker.stats.batches, "images": svc.worker.stats.images}
    svc.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 1
    crop_paths = sorted((args.data / "crops").rglob("*.jpg"))
    photo_bytes = [p.read_bytes() for p in sorted((args.data / "photos").glob("*.jpg"))]
    crops = [Image.open(p).convert("RGB") for p in crop_paths]
    report: dict[str, Any] = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
                              "python": platform.python_version()}
    args.out.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every step: a run cut short still reports what it measured
        (args.out / "gpu.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=1), flush=True)

    report["engines"] = engines(DEFAULT_WEIGHTS, crops, args.seconds, ("eager", "torchscript", "tensorrt"))
    save()
    crop_bytes = [p.read_bytes() for p in crop_paths]
    engine = "torchscript" if "unavailable" not in report["engines"]["torchscript"] else "eager"
    report["service_engine"] = engine
    report["service_cuda"] = service("cuda", engine, photo_bytes, crop_bytes)
    report["service_cpu"] = service("cpu", engine, photo_bytes, crop_bytes[:8])
    diffs = [abs(a["fake_probability"] - b["fake_probability"])
             for a, b in zip(report["service_cuda"]["photos"], report["service_cpu"]["photos"], strict=True)]
    report["photo_probability_max_diff_cuda_vs_cpu"] = max(diffs)
    save()
    report["engines"].update(engines(DEFAULT_WEIGHTS, crops, args.seconds, ("aoti",)))  # compiles: slowest last
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

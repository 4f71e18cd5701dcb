"""The GPU path, where CUDA exists: engines on the GPU against eager fp32 on the CPU, the TensorRT export,
and the whole service (face detection, batching, Grad-CAM) on CUDA. Skipped on CPU-only machines; on a
lent GPU run ``python -m pytest tests/gpu`` (``python -m bench.gpu`` measures the same path)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from PIL import Image

from export.__main__ import export
from export.verify import calibrated_probabilities, check_images
from server.config import DEFAULT_WEIGHTS, Config
from server.domain import RequestContext
from server.engine import load_engine
from server.model.preprocess import images_to_batch
from server.model.spec import ModelSpec
from server.service import DetectionService

DEVICE = torch.device("cuda")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU with CUDA")
# cuDNN convolutions use TF32 by default: probabilities moved by up to 2.4e-3 on an H200.
CUDA_TOLERANCE = 5e-3
CTX = RequestContext(request_id="gpu-test")


@pytest.fixture(scope="module")
def crops(dfdc_dir: Path) -> list[Image.Image]:
    return check_images(dfdc_dir, 16)


@pytest.mark.parametrize("engine", ["eager", "torchscript"])
def test_engines_on_cuda_match_eager_on_the_cpu(engine: str, crops: list[Image.Image]) -> None:
    spec = ModelSpec.load(DEFAULT_WEIGHTS)
    batch = images_to_batch(crops, spec)
    cpu_eager = load_engine("eager", DEFAULT_WEIGHTS, spec, torch.device("cpu"))
    reference = calibrated_probabilities(cpu_eager.run(batch), spec)
    gpu = load_engine(engine, DEFAULT_WEIGHTS, spec, DEVICE)
    for size in (1, 8):
        got = torch.cat([gpu.run(batch[i:i + size]) for i in range(0, len(batch), size)])
        assert got.device.type == "cpu", "engines hand logits back on the CPU"
        assert (calibrated_probabilities(got, spec) - reference).abs().max() <= CUDA_TOLERANCE


@pytest.mark.skipif(importlib.util.find_spec("torch_tensorrt") is None, reason="needs the torch-tensorrt package")
def test_tensorrt_export_keeps_parity_and_val_auc(dfdc_dir: Path, tmp_path: Path) -> None:
    spec = export(DEFAULT_WEIGHTS, tmp_path, "tensorrt", "cuda", dfdc_dir, 32, None)
    parity = spec.artifacts["tensorrt"]["parity"]
    assert parity["max_abs_diff_probability"] <= 2e-2
    assert abs(parity["auc"]["tensorrt"] - parity["auc"]["eager"]) <= 0.002
    engine = load_engine("tensorrt", tmp_path, spec, DEVICE)
    assert engine.run(torch.zeros(3, 3, spec.input_size, spec.input_size)).shape == (3,)


@pytest.fixture(scope="module")
def services() -> Iterator[tuple[DetectionService, DetectionService]]:
    gpu = DetectionService(Config(device="cuda", engine="torchscript", metrics_port=0))
    cpu = DetectionService(Config(device="cpu", engine="onnxruntime", metrics_port=0))
    gpu.load()
    cpu.load()
    yield gpu, cpu
    gpu.close()
    cpu.close()


def test_the_service_on_cuda_finds_the_same_faces_and_verdicts(services: tuple[DetectionService, DetectionService],
                                                              photos_dir: Path) -> None:
    gpu, cpu = services
    for path in sorted(photos_dir.glob("*.jpg")):
        data = path.read_bytes()
        on_gpu = gpu.predict(data, path.name, False, False, CTX)
        on_cpu = cpu.predict(data, path.name, False, False, CTX)
        assert len(on_gpu.faces) == len(on_cpu.faces), path.name
        # MTCNN boxes differ slightly on CUDA, so the crops do too (and a verdict near 50% may flip).
        assert abs(on_gpu.fake_probability - on_cpu.fake_probability) <= 0.05, path.name


def test_grad_cam_runs_on_the_gpu(services: tuple[DetectionService, DetectionService], photos_dir: Path) -> None:
    gpu, _ = services
    assert next(gpu.explainer.model.parameters()).device.type == "cuda"
    result = gpu.predict((photos_dir / "multiface.jpg").read_bytes(), "multiface.jpg", True, False, CTX)
    assert result.heatmap_png.startswith(b"\x89PNG")
    assert len(result.faces) == 6


def test_batching_on_cuda_does_not_change_results(services: tuple[DetectionService, DetectionService],
                                                   dfdc_dir: Path) -> None:
    gpu, _ = services
    crops = [p.read_bytes() for p in sorted((dfdc_dir / "real").glob("*.jpg"))[:32]]
    alone = [gpu.predict(c, "crop.jpg", False, True, CTX).fake_probability for c in crops]
    before = gpu.worker.stats.batches
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda c: gpu.predict(c, "crop.jpg", False, True, CTX).fake_probability, crops))
    assert gpu.worker.stats.batches - before < len(crops), "concurrent requests were batched"
    # cuDNN may pick another algorithm per batch size: equal to within float32 noise, not bit for bit.
    assert max(abs(a - b) for a, b in zip(alone, together, strict=True)) <= 1e-3

"""``python -m export``: turn trained weights into a verified inference artifact.

    python -m export --weights weights/default                        # TorchScript
    python -m export --weights weights/default --format onnxruntime   # ONNX for ONNX Runtime (CPU)
    python -m export --weights weights/default --format aoti          # AOTInductor (compiled here)
    python -m export --weights weights/default --format aoti-bf16     # AOTInductor in bf16 (native bf16 CPUs)
    python -m export --weights weights/default --format tensorrt      # TensorRT (CUDA + torch-tensorrt)

The artifact is checked against the eager model on real face crops; above the tolerance the export fails
and the artifact is removed. Reduced-precision formats (aoti-bf16, tensorrt) must also keep the val ROC AUC
within 0.002 of the eager fp32 model on the check data. The spec beside it records the file, its sha256
and the measured difference.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import shutil
import sys
import time
from pathlib import Path

import torch

from export.verify import check_images, compare, compare_auc
from server.engine import EagerEngine, load_engine, resolve_device
from server.engine.aoti import cpu_has_native_bf16
from server.engine.tensorrt import require_tensorrt
from server.errors import EngineUnavailable
from server.model.factory import load_trained
from server.model.spec import SPEC_FILENAME, WEIGHTS_FILENAME, ModelSpec, sha256_file

log = logging.getLogger("export")

FORMATS = {
    # format (= engine name): (file name, default tolerance on calibrated probabilities)
    "torchscript": ("model.torchscript.pt", 1e-4),
    "onnxruntime": ("model.onnx", 1e-4),
    "aoti": ("model.aoti.pt2", 1e-4),
    # bf16 keeps ~3 significant digits: single probabilities move by up to ~0.3 near the threshold, so the
    # val AUC check below is what decides (shipped model: AUC 0.8730 vs 0.8736 in fp32).
    "aoti-bf16": ("model.aoti-bf16.pt2", 0.35),
    "tensorrt": ("model.trt.ep", 2e-2),  # fp16 kernels
}
REDUCED_PRECISION = {"aoti-bf16", "tensorrt"}
AUC_TOLERANCE = 0.002
DEFAULT_CHECK_DATA = Path("../shared/data/dfdc-faces")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, required=True, help="folder with model.pt and model_spec.json")
    p.add_argument("--output", type=Path, help="output folder (default: the weights folder)")
    p.add_argument("--format", choices=sorted(FORMATS), default="torchscript")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (tensorrt needs cuda)")
    p.add_argument("--check-data", type=Path, default=DEFAULT_CHECK_DATA,
                   help=f"folder of real/ and deepfake/ face crops to verify on (default {DEFAULT_CHECK_DATA})")
    p.add_argument("--check-images", type=int, default=64)
    p.add_argument("--tolerance", type=float, help="max abs difference of probabilities (default per format)")
    return p


def export(weights: Path, output: Path, fmt: str, device_name: str, check_data: Path, check_count: int,
           tolerance: float | None) -> ModelSpec:
    filename, default_tolerance = FORMATS[fmt]
    tolerance = default_tolerance if tolerance is None else tolerance
    if not check_data.is_dir():
        raise FileNotFoundError(f"check data not found: {check_data}; pass --check-data DIR")
    spec = ModelSpec.load(weights)
    if fmt == "tensorrt":
        require_tensorrt()
    device = resolve_device("cuda" if fmt == "tensorrt" and device_name == "auto" else device_name)
    if fmt == "aoti-bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        raise EngineUnavailable("aoti-bf16 is for CPUs with native bf16 (AVX512-BF16 or AMX); this one would "
                                "emulate it, slower than fp32: export aoti or onnxruntime instead")
    output.mkdir(parents=True, exist_ok=True)
    if output.resolve() != weights.resolve():
        shutil.copy2(weights / WEIGHTS_FILENAME, output / WEIGHTS_FILENAME)
        shutil.copy2(weights / SPEC_FILENAME, output / SPEC_FILENAME)

    artifact = output / filename
    started = time.perf_counter()
    model = load_trained(output, spec, str(device))
    exporters = {"torchscript": ("export.torchscript", "export_torchscript"),
                 "onnxruntime": ("export.onnx", "export_onnx"), "aoti": ("export.aoti", "export_aoti"),
                 "aoti-bf16": ("export.aoti", "export_aoti_bf16"),
                 "tensorrt": ("export.tensorrt", "export_tensorrt")}
    module, function = exporters[fmt]
    getattr(importlib.import_module(module), function)(model, spec, artifact, device)
    seconds = time.perf_counter() - started
    log.info("exported %s in %.1f s: %s (%.1f MB)", fmt, seconds, artifact, artifact.stat().st_size / 1e6)

    images = check_images(check_data, check_count)
    reference = EagerEngine(spec, device, model)
    candidate = load_engine(fmt, output, spec, device)
    report = compare(reference, candidate, images, spec)
    log.info("parity on %d real crops at batch sizes %s: max |dp| %.2e, mean %.2e (tolerance %g)",
             report.images, report.batch_sizes, report.max_abs_diff, report.mean_abs_diff, tolerance)
    if not report.passed(tolerance):
        artifact.unlink()
        raise ValueError(f"{fmt} export differs from the eager model by {report.max_abs_diff:.2e} "
                         f"(tolerance {tolerance:g}); artifact removed")
    parity: dict[str, object] = {"images": report.images, "batch_sizes": list(report.batch_sizes),
                                 "max_abs_diff_probability": report.max_abs_diff, "tolerance": tolerance}
    if fmt in REDUCED_PRECISION:
        auc = compare_auc(reference, candidate, check_data, spec)
        log.info("val AUC on %d crops: eager %.4f, %s %.4f", auc.images, auc.reference, fmt, auc.candidate)
        if abs(auc.candidate - auc.reference) > AUC_TOLERANCE:
            artifact.unlink()
            raise ValueError(f"{fmt} export changes the val AUC from {auc.reference:.4f} to {auc.candidate:.4f} "
                             f"(tolerance {AUC_TOLERANCE}); artifact removed")
        parity["auc"] = {"images": auc.images, "eager": auc.reference, fmt: auc.candidate}
    artifacts = dict(spec.artifacts)
    artifacts[fmt] = {
        "file": filename,
        "sha256": sha256_file(artifact),
        "device": str(device),
        "torch": torch.__version__,
        "export_seconds": round(seconds, 1),
        "parity": parity,
    }
    spec = spec.replace(artifacts=artifacts)
    spec.save(output)
    return spec


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        export(args.weights, args.output or args.weights, args.format, args.device, args.check_data,
               args.check_images, args.tolerance)
    except (EngineUnavailable, FileNotFoundError, ValueError) as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""AOTInductor: the model compiled ahead of time (at export) into a shared library package.

Compilation happens in ``python -m export --format aoti`` (or ``aoti-bf16``), never at server start; loading
the package takes milliseconds. A package is specific to the torch version and the CPU type it was compiled
for, so none is shipped.

``aoti-bf16`` runs weights and activations in bfloat16. It is only worth it on CPUs with native bf16 dot
products (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower, so it refuses to load there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from server.engine.base import Engine, artifact_path
from server.errors import EngineUnavailable
from server.model.spec import ModelSpec

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bf16 dot products in hardware (Linux; False where it cannot tell)."""
    try:
        flags = cpuinfo.read_text().split()
    except OSError:
        return False
    return any(flag in flags for flag in BF16_CPU_FLAGS)


class AotInductorEngine(Engine):
    name = "aoti"
    filename = "model.aoti.pt2"

    def __init__(self, spec: ModelSpec, device: torch.device, runner: Any) -> None:
        super().__init__(spec, device)
        self.runner = runner

    @classmethod
    def load(cls, weights_dir: Path, spec: ModelSpec, device: torch.device) -> AotInductorEngine:
        path = artifact_path(weights_dir, spec, cls.name, cls.filename)
        if not path.exists():
            raise EngineUnavailable(f"no AOTInductor package at {path}; run `python -m export --weights "
                                    f"{weights_dir} --format {cls.name}` on this machine type")
        compiled_for = spec.artifacts.get(cls.name, {}).get("torch")
        if compiled_for and compiled_for != torch.__version__:
            raise EngineUnavailable(f"the AOTInductor package was compiled with torch {compiled_for}; this is "
                                    f"{torch.__version__}: export it again")
        return cls(spec, device, torch._inductor.aoti_load_package(str(path)))

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.runner(batch)  # type: ignore[no-any-return]


class AotInductorBf16Engine(AotInductorEngine):
    name = "aoti-bf16"
    filename = "model.aoti-bf16.pt2"

    @classmethod
    def load(cls, weights_dir: Path, spec: ModelSpec, device: torch.device) -> AotInductorEngine:
        if device.type == "cpu" and not cpu_has_native_bf16():
            raise EngineUnavailable("the aoti-bf16 engine needs a CPU with native bf16 (AVX512-BF16 or AMX); "
                                    "this one would emulate it, slower than fp32: use onnxruntime")
        return super().load(weights_dir, spec, device)

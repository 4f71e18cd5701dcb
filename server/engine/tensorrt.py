"""TensorRT through torch-tensorrt: fp16 engine compiled at export time, for CUDA machines only."""

from __future__ import annotations

from pathlib import Path

import torch

from server.engine.base import Engine, artifact_path
from server.errors import EngineUnavailable
from server.model.spec import ModelSpec

FILENAME = "model.trt.ep"


def require_tensorrt() -> None:
    """Raise EngineUnavailable naming what is missing: CUDA or the torch-tensorrt package."""
    if not torch.cuda.is_available():
        raise EngineUnavailable("the tensorrt engine needs an NVIDIA GPU with CUDA; none is available here")
    try:
        import torch_tensorrt  # noqa: F401
    except ImportError:
        raise EngineUnavailable(
            "the tensorrt engine needs the torch-tensorrt package matching your torch: "
            "pip install torch-tensorrt (CUDA machines only)"
        ) from None


class TensorRTEngine(Engine):
    name = "tensorrt"

    def __init__(self, spec: ModelSpec, device: torch.device, module: torch.nn.Module) -> None:
        super().__init__(spec, device)
        self.module = module

    @classmethod
    def load(cls, weights_dir: Path, spec: ModelSpec, device: torch.device) -> TensorRTEngine:
        require_tensorrt()
        import torch_tensorrt

        path = artifact_path(weights_dir, spec, cls.name, FILENAME)
        if not path.exists():
            raise EngineUnavailable(
                f"no TensorRT export at {path}; run `python -m export --weights {weights_dir} --format tensorrt`"
            )
        module = torch_tensorrt.load(str(path)).module()
        return cls(spec, device, module)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.module(batch)

"""TorchScript: a frozen, traced module, optimised for inference after loading.

``torch.jit.optimize_for_inference`` is applied at load time, not before saving: an optimised module of
torchvision/timm EfficientNets fails to reload ("required keyword attribute 'value' is undefined").
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from server.engine.base import Engine, artifact_path
from server.errors import EngineUnavailable
from server.model.spec import ModelSpec

FILENAME = "model.torchscript.pt"


class TorchScriptEngine(Engine):
    name = "torchscript"

    def __init__(self, spec: ModelSpec, device: torch.device, module: torch.jit.ScriptModule) -> None:
        super().__init__(spec, device)
        self.module = module

    @classmethod
    def load(cls, weights_dir: Path, spec: ModelSpec, device: torch.device) -> TorchScriptEngine:
        path = artifact_path(weights_dir, spec, cls.name, FILENAME)
        if not path.exists():
            raise EngineUnavailable(f"no TorchScript export at {path}; run `python -m export --weights {weights_dir}`")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning))  # TorchScript is deprecated
            module = torch.jit.load(str(path), map_location=device)
            module = torch.jit.optimize_for_inference(module.eval())
        return cls(spec, device, module)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.module(batch)

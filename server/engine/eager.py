"""Plain PyTorch: the reference every export is checked against, and the model Grad-CAM explains."""

from __future__ import annotations

from pathlib import Path

import torch

from server.engine.base import Engine
from server.model.factory import load_trained
from server.model.spec import ModelSpec


class EagerEngine(Engine):
    name = "eager"

    def __init__(self, spec: ModelSpec, device: torch.device, model: torch.nn.Module) -> None:
        super().__init__(spec, device)
        self.model = model

    @classmethod
    def load(cls, weights_dir: Path, spec: ModelSpec, device: torch.device) -> EagerEngine:
        return cls(spec, device, load_trained(weights_dir, spec, str(device)))

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch)

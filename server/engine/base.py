"""The small interface every inference backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch

from server.model.spec import ModelSpec


class Engine(ABC):
    """Runs normalised float32 NCHW batches and returns one raw logit per image.

    Engines are not thread-safe by contract; the service calls ``run`` from its single inference thread.
    """

    name: str = ""

    def __init__(self, spec: ModelSpec, device: torch.device) -> None:
        self.spec = spec
        self.device = device

    @classmethod
    @abstractmethod
    def load(cls, weights_dir: Path, spec: ModelSpec, device: torch.device) -> Engine:
        """Load the engine's artifact from ``weights_dir``; raise EngineUnavailable if it cannot run here."""

    @abstractmethod
    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N,) or (N, 1) for a batch already on ``self.device``."""

    @torch.inference_mode()
    def run(self, batch: torch.Tensor) -> torch.Tensor:
        """Raw logits (float32, CPU, shape (N,)) for a normalised float32 NCHW batch."""
        if self.device.type == "cuda":
            # Page-locked host memory lets the copy to the GPU run asynchronously (DMA, no staging copy).
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        logits = self._forward(batch)
        return logits.float().reshape(-1).cpu()

    def warmup(self, batch_sizes: tuple[int, ...] = (1, 8)) -> None:
        """Run dummy batches so the first real request does not pay for lazy initialisation."""
        size = self.spec.input_size
        for n in batch_sizes:
            for _ in range(2):
                self.run(torch.zeros(n, 3, size, size))

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "device": str(self.device)}


def artifact_path(weights_dir: Path, spec: ModelSpec, engine: str, default_name: str) -> Path:
    """Where an engine's artifact lives: as recorded by the export in the spec, else the default name."""
    entry = spec.artifacts.get(engine, {})
    return Path(weights_dir) / entry.get("file", default_name)

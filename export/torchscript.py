"""Eager model -> frozen, traced TorchScript file."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from server.model.spec import ModelSpec


def export_torchscript(model: torch.nn.Module, spec: ModelSpec, path: Path, device: torch.device) -> None:
    example = torch.zeros(1, 3, spec.input_size, spec.input_size, device=device)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning))  # TorchScript is deprecated
        traced = torch.jit.trace(model.eval(), example)
        frozen = torch.jit.freeze(traced)
        # Saved before optimize_for_inference, which the engine applies after loading (see the engine).
        torch.jit.save(frozen, str(path))

"""Eager model -> TensorRT (fp16) through torch-tensorrt's dynamo frontend, with dynamic batch sizes."""

from __future__ import annotations

from pathlib import Path

import torch

from server.engine.tensorrt import require_tensorrt
from server.model.spec import ModelSpec


def export_tensorrt(model: torch.nn.Module, spec: ModelSpec, path: Path, device: torch.device,
                    max_batch: int = 32, opt_batch: int = 8) -> None:
    require_tensorrt()
    import torch_tensorrt

    size = spec.input_size
    inputs = [torch_tensorrt.Input(
        min_shape=(1, 3, size, size), opt_shape=(opt_batch, 3, size, size), max_shape=(max_batch, 3, size, size),
        dtype=torch.float32,
    )]
    compiled = torch_tensorrt.compile(
        model.eval().to(device), ir="dynamo", inputs=inputs, enabled_precisions={torch.float16, torch.float32},
    )
    example = torch.zeros(opt_batch, 3, size, size, device=device)
    torch_tensorrt.save(compiled, str(path), inputs=[example])

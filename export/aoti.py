"""Eager model -> AOTInductor package (torch.export + aoti_compile_and_package), dynamic batch 1-32.

``export_aoti_bf16`` compiles the model with bfloat16 weights and activations (input cast in, logits cast
back to fp32). Inductor's freezing pass folds batch norm into the convolutions and pre-packs their weights
for oneDNN, which is where native bf16 pays off.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch._inductor.config

from server.model.spec import ModelSpec


class _Bf16(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).to(torch.bfloat16)  # the caller's fp32 model stays the reference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(torch.bfloat16)).float()  # type: ignore[no-any-return]


def export_aoti(model: torch.nn.Module, spec: ModelSpec, path: Path, device: torch.device) -> None:
    example = torch.zeros(2, 3, spec.input_size, spec.input_size, device=device)
    batch = torch.export.Dim("batch", min=1, max=32)
    with torch.no_grad():
        program = torch.export.export(model.eval(), (example,), dynamic_shapes={"x": {0: batch}})
        torch._inductor.aoti_compile_and_package(program, package_path=str(path))


def export_aoti_bf16(model: torch.nn.Module, spec: ModelSpec, path: Path, device: torch.device) -> None:
    wrapped = _Bf16(model.eval()).to(memory_format=torch.channels_last)
    with torch._inductor.config.patch(freezing=True):
        export_aoti(wrapped, spec, path, device)

"""Eager model -> AOTInductor package (torch.export + aoti_compile_and_package), dynamic batch 1-32."""

from __future__ import annotations

from pathlib import Path

import torch

from server.model.spec import ModelSpec


def export_aoti(model: torch.nn.Module, spec: ModelSpec, path: Path, device: torch.device) -> None:
    example = torch.zeros(2, 3, spec.input_size, spec.input_size, device=device)
    batch = torch.export.Dim("batch", min=1, max=32)
    with torch.no_grad():
        program = torch.export.export(model.eval(), (example,), dynamic_shapes={"x": {0: batch}})
        torch._inductor.aoti_compile_and_package(program, package_path=str(path))

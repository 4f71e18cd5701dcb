"""Eager model -> ONNX (opset 17, dynamic batch), for ONNX Runtime."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from server.model.spec import ModelSpec


def export_onnx(model: torch.nn.Module, spec: ModelSpec, path: Path, device: torch.device) -> None:
    example = torch.zeros(1, 3, spec.input_size, spec.input_size, device=device)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning))
        # The TorchScript-based exporter: stable for these convnets and needs no extra packages.
        torch.onnx.export(model.eval(), (example,), str(path), input_names=["input"], output_names=["logit"],
                          dynamic_axes={"input": {0: "batch"}, "logit": {0: "batch"}}, opset_version=17,
                          dynamo=False)

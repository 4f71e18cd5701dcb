"""Inference backends behind one interface; ``load_engine`` picks one by name."""

from __future__ import annotations

from pathlib import Path

import torch

from server.engine.aoti import AotInductorBf16Engine, AotInductorEngine
from server.engine.base import Engine
from server.engine.eager import EagerEngine
from server.engine.onnxruntime import OnnxRuntimeEngine
from server.engine.tensorrt import TensorRTEngine
from server.engine.torchscript import TorchScriptEngine
from server.errors import EngineUnavailable
from server.model.spec import ModelSpec

ENGINES: dict[str, type[Engine]] = {
    e.name: e for e in (OnnxRuntimeEngine, TorchScriptEngine, AotInductorEngine, AotInductorBf16Engine, EagerEngine,
                        TensorRTEngine)
}

__all__ = ["ENGINES", "EagerEngine", "Engine", "load_engine", "resolve_device"]


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EngineUnavailable(f"device {name!r} was asked for but CUDA is not available here")
    return device


def load_engine(name: str, weights_dir: Path, spec: ModelSpec, device: torch.device) -> Engine:
    try:
        engine_cls = ENGINES[name]
    except KeyError:
        raise EngineUnavailable(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}") from None
    return engine_cls.load(Path(weights_dir), spec, device)

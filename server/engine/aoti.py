"""AOTInductor: the model compiled ahead of time (at export) into a shared library package.

Compilation happens in ``python -m export --format aoti`` (a minute or more), never at server start;
loading the package takes milliseconds. The package is specific to the torch version and machine type it
was compiled for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from server.engine.base import Engine, artifact_path
from server.errors import EngineUnavailable
from server.model.spec import ModelSpec

FILENAME = "model.aoti.pt2"


class AotInductorEngine(Engine):
    name = "aoti"

    def __init__(self, spec: ModelSpec, device: torch.device, runner: Any) -> None:
        super().__init__(spec, device)
        self.runner = runner

    @classmethod
    def load(cls, weights_dir: Path, spec: ModelSpec, device: torch.device) -> AotInductorEngine:
        path = artifact_path(weights_dir, spec, cls.name, FILENAME)
        if not path.exists():
            raise EngineUnavailable(f"no AOTInductor package at {path}; run `python -m export --weights "
                                    f"{weights_dir} --format aoti` on this machine type")
        compiled_for = spec.artifacts.get(cls.name, {}).get("torch")
        if compiled_for and compiled_for != torch.__version__:
            raise EngineUnavailable(f"the AOTInductor package was compiled with torch {compiled_for}; this is "
                                    f"{torch.__version__}: export it again")
        return cls(spec, device, torch._inductor.aoti_load_package(str(path)))

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.runner(batch)  # type: ignore[no-any-return]

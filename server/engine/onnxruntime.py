"""ONNX Runtime on the CPU: the fastest engine measured on this project's machines at small batches.

ONNX Runtime has its own thread pool (not torch's OpenMP); the session is created and run on the
inference worker thread, so the two never run at once.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from server.engine.base import Engine, artifact_path
from server.errors import EngineUnavailable
from server.model.spec import ModelSpec

FILENAME = "model.onnx"


class OnnxRuntimeEngine(Engine):
    name = "onnxruntime"

    def __init__(self, spec: ModelSpec, device: torch.device, session: object) -> None:
        super().__init__(spec, device)
        self.session = session
        self.input_name = session.get_inputs()[0].name  # type: ignore[attr-defined]

    @classmethod
    def load(cls, weights_dir: Path, spec: ModelSpec, device: torch.device) -> OnnxRuntimeEngine:
        if device.type != "cpu":
            raise EngineUnavailable("the onnxruntime engine runs on the CPU here; use tensorrt or torchscript on CUDA")
        try:
            import onnxruntime as ort
        except ImportError:
            raise EngineUnavailable("the onnxruntime engine needs the onnxruntime package: "
                                    "pip install onnxruntime") from None
        path = artifact_path(weights_dir, spec, cls.name, FILENAME)
        if not path.exists():
            raise EngineUnavailable(f"no ONNX export at {path}; run `python -m export --weights {weights_dir} "
                                    "--format onnxruntime`")
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads() or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle workers sleep instead of spinning, leaving the cores to request threads between batches:
        # 113 -> 142 predictions/s at 16 concurrent requests on 2 cores, for ~0.7 ms more at batch 1.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return cls(spec, device, session)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(batch.numpy(), dtype=np.float32)
        (logits,) = self.session.run(None, {self.input_name: array})  # type: ignore[attr-defined]
        return torch.from_numpy(logits)

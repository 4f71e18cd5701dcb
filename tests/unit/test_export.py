from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from export.__main__ import export, main
from server.engine import load_engine
from server.model.spec import ModelSpec, sha256_file


def test_torchscript_export_is_verified_and_recorded(random_weights: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    spec = export(random_weights, tmp_path, "torchscript", "cpu", tiny_dataset, 12, None)
    entry = spec.artifacts["torchscript"]
    assert entry["sha256"] == sha256_file(tmp_path / "model.torchscript.pt")
    assert entry["parity"]["images"] == 12
    assert entry["parity"]["max_abs_diff_probability"] <= 1e-4
    assert ModelSpec.load(tmp_path) == spec, "export writes the spec beside its artifact"
    assert (tmp_path / "model.pt").exists()
    engine = load_engine("torchscript", tmp_path, spec, torch.device("cpu"))
    assert engine.run(torch.zeros(3, 3, 224, 224)).shape == (3,)


def test_export_fails_above_tolerance_and_removes_the_artifact(random_weights: Path, tiny_dataset: Path,
                                                               tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="differs from the eager model"):
        export(random_weights, tmp_path, "torchscript", "cpu", tiny_dataset, 4, -1.0)
    assert not (tmp_path / "model.torchscript.pt").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where CUDA is missing")
def test_tensorrt_without_cuda_says_what_is_missing(random_weights: Path, tiny_dataset: Path,
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(random_weights, tmp_path / "w")
    assert main(["--weights", str(tmp_path / "w"), "--format", "tensorrt", "--check-data", str(tiny_dataset)]) == 1
    assert "needs an NVIDIA GPU with CUDA" in capsys.readouterr().err

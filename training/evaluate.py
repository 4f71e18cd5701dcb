"""Evaluate trained weights: a split of the training data, by source, with the generalisation proxies.

``python -m training evaluate --weights W --split test`` reports, for that role (see ``training.splits``):

- DFDC deepfakes against the DFDC reals (AUC, accuracy, precision/recall, log-loss, ECE, confusion);
- self-blended fakes of the same reals against those reals (fixed seed): the generalisation proxy, since
  every face swap leaves a blend and these blends are made fresh, not learnt from any generator;
- fully synthetic portraits (per generator) against real portraits, where ``--synthetic-dir`` is given;
- verdict shares per source (Real / Uncertain / Deepfake) and the precision of each verdict;
- false positives on the real photos of ``--photos-dir`` (face detection and crop exactly as the service);
- a reliability diagram and a ROC curve (PNG).

``--split all`` (or any manifest split of a plain folder) evaluates every image as one set. The report ends
with one line of JSON for scripts to parse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader

from server.model.factory import load_trained
from server.model.preprocess import crop_face, images_to_batch, normalize
from server.model.spec import UNCERTAIN, ModelSpec
from training.dataset import discover, select, subsample
from training.faces import ensure_faces
from training.metrics import classification_metrics, probabilities, save_reliability_png, save_roc_png
from training.mix import (
    DFDC_FAKE,
    DFDC_REAL,
    PORTRAIT_FAKES,
    PORTRAIT_REAL,
    REAL_SOURCES,
    SELF_BLENDED,
    SOURCES,
    Item,
    MixedFaces,
    crop_items,
    portrait_items,
)
from training.splits import assign_roles

FAKE_FAMILIES = {"dfdc_auc": DFDC_FAKE, "self_blended_auc": SELF_BLENDED, "portrait_auc": "portraits"}


@torch.inference_mode()
def predict(model: nn.Module, loader: DataLoader[Any], spec: ModelSpec, device: torch.device,
            channels_last: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, raw logits and source indices for every batch of ``loader``."""
    was_training = model.training
    model.eval()
    all_labels, all_logits, all_sources = [], [], []
    for images, labels, sources in loader:
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        all_logits.append(model(normalize(images, spec)).float().squeeze(1).cpu().numpy())
        all_labels.append(labels.numpy())
        all_sources.append(sources.numpy())
    model.train(was_training)
    return np.concatenate(all_labels), np.concatenate(all_logits), np.concatenate(all_sources)


def score_sources(labels: np.ndarray, scores: np.ndarray, sources: np.ndarray) -> dict[str, float]:
    """AUC of each fake family against its own reals, and the selection score (their mean)."""
    names = np.array(SOURCES)[sources]
    out: dict[str, float] = {}
    for key, family in FAKE_FAMILIES.items():
        if family == "portraits":
            reals, fakes = names == PORTRAIT_REAL, np.isin(names, PORTRAIT_FAKES)
        else:
            reals, fakes = names == DFDC_REAL, names == family
        if reals.any() and fakes.any():
            out[key] = _auc(scores[reals], scores[fakes])
    out["selection_score"] = float(np.mean(list(out.values()))) if out else float("nan")
    return out


def _auc(real_scores: np.ndarray, fake_scores: np.ndarray) -> float:
    y = np.r_[np.zeros(len(real_scores)), np.ones(len(fake_scores))]
    return float(roc_auc_score(y, np.r_[real_scores, fake_scores]))


@dataclass
class EvalSets:
    """The held-out items of each role: DFDC crops grouped with their self-blended fakes, and portraits."""

    role_items: dict[str, list[Item]] = field(default_factory=dict)
    photos_dir: Path | None = None

    def has(self, role: str) -> bool:
        return bool(self.role_items.get(role))

    def items(self, role: str, self_blended: bool = True) -> list[Item]:
        return [i for i in self.role_items.get(role, []) if self_blended or i.source != SELF_BLENDED]

    def counts(self, role: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.items(role):
            counts[item.source] = counts.get(item.source, 0) + 1
        return counts

    def describe(self, role: str) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.counts(role).items()) if k != SELF_BLENDED)

    def loader(self, role: str, spec: ModelSpec, batch_size: int, workers: int,
               self_blended: bool = True) -> DataLoader[Any]:
        dataset = MixedFaces(self.items(role, self_blended), spec, seed=1)
        return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)


def evaluation_sets(data_dir: Path, synthetic_dir: Path | None, faces_cache: Path, limit: int = 0,
                    roles: tuple[str, ...] = ("val", "calib", "test"), photos_dir: Path | None = None) -> EvalSets:
    """Items of each role; ``roles=("all",)`` takes every image of ``data_dir`` as one set."""
    crops = discover(data_dir)
    if roles != ("all",):
        crops = assign_roles(crops)
    sets = EvalSets(photos_dir=photos_dir)
    portraits = assign_roles(discover(synthetic_dir)) if synthetic_dir is not None else []
    for role in roles:
        chosen = crops if role == "all" else [s for s in crops if s.split == role]
        chosen = subsample(chosen, limit // 4, 0)
        reals = [s for s in chosen if s.label == 0]
        marks = ensure_faces(data_dir, [str(s.path.relative_to(data_dir)) for s in reals], faces_cache)
        items = [item for group in crop_items(chosen, marks, data_dir, self_blend=True) for item in group]
        if synthetic_dir is not None:
            mine = subsample(select(portraits, role), limit // 4, 0) if role != "all" else portraits
            faces = ensure_faces(synthetic_dir, [str(s.path.relative_to(synthetic_dir)) for s in mine], faces_cache)
            items += portrait_items(mine, faces, synthetic_dir)
        sets.role_items[role] = items
    return sets


def report(model: nn.Module, evals: EvalSets, role: str, spec: ModelSpec, device: torch.device,
           out_dir: Path, workers: int) -> dict[str, Any]:
    """Everything about one role, with calibrated probabilities and the spec's verdicts."""
    labels, logits, sources = predict(model, evals.loader(role, spec, 32, workers), spec, device, False)
    probs = probabilities(logits, spec.calibration)
    names = np.array(SOURCES)[sources]
    proxies = score_sources(labels, logits, sources)
    dfdc = np.isin(names, [DFDC_REAL, DFDC_FAKE])
    real_world = ~(names == SELF_BLENDED)  # the calibration's population: no self-blended fakes
    result: dict[str, Any] = {
        "role": role,
        "dfdc": classification_metrics(labels[dfdc], probs[dfdc], spec.threshold) if dfdc.any() else {},
        "proxies": proxies,
        "all_real_world": classification_metrics(labels[real_world], probs[real_world], spec.threshold),
        "by_source": {},
        "verdicts": verdict_precision(labels[real_world], probs[real_world], spec),
    }
    for source in SOURCES:
        mask = names == source
        if mask.any():
            result["by_source"][source] = source_summary(probs[mask], spec, real=source in REAL_SOURCES)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"{spec.name or spec.architecture} - {role}"
    save_reliability_png(labels[real_world], probs[real_world], out_dir / f"reliability_{role}.png", title)
    if result["dfdc"]:
        save_roc_png(labels[dfdc], probs[dfdc], out_dir / f"roc_{role}.png", f"{title} (DFDC)")
    if evals.photos_dir is not None and role == "test":
        result["photos"] = photos_false_positives(model, evals.photos_dir, spec, device)
    result["summary"] = summarize(result)
    return result


def source_summary(probs: np.ndarray, spec: ModelSpec, real: bool) -> dict[str, Any]:
    verdicts = [spec.verdict_for(float(p)) for p in probs]
    share = {v: verdicts.count(v) / len(verdicts) for v in (*spec.labels, UNCERTAIN)}
    called_fake = float(np.mean(probs >= spec.threshold))
    return {
        "n": len(probs),
        "mean_probability": float(probs.mean()),
        # For reals this is the false-positive rate, for fakes the detection rate, at the threshold.
        "called_deepfake_at_threshold": called_fake,
        "verdict_share": share,
        "kind": "real" if real else "fake",
    }


def verdict_precision(labels: np.ndarray, probs: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
    """How often each verdict is right, and how many answers are "Uncertain"."""
    verdicts = np.array([spec.verdict_for(float(p)) for p in probs])
    real_label, fake_label = spec.labels
    said_fake, said_real = verdicts == fake_label, verdicts == real_label
    return {
        "band": [spec.uncertain.low, spec.uncertain.high],
        "n": len(probs),
        "precision_deepfake": float(labels[said_fake].mean()) if said_fake.any() else float("nan"),
        "precision_real": float(1 - labels[said_real].mean()) if said_real.any() else float("nan"),
        "uncertain_share": float(np.mean(verdicts == UNCERTAIN)),
        "n_deepfake": int(said_fake.sum()), "n_real": int(said_real.sum()),
    }


def photos_false_positives(model: nn.Module, photos_dir: Path, spec: ModelSpec, device: torch.device) -> dict[str, Any]:
    """Faces of real photos through the service's detector and crop: how many are called Deepfake."""
    from PIL import Image, ImageOps

    from server.config import Config
    from server.faces import FaceDetector

    cfg = Config()
    detector = FaceDetector(torch.device("cpu"), cfg.face_min_confidence, cfg.min_face_px, cfg.detect_max_side)
    crops = []
    for path in sorted(Path(photos_dir).glob("*.jp*g")):
        image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
        small, scale = detector.downscale(image)
        crops += [crop_face(image, f.box, spec) for f in detector.detect(small, scale, cfg.max_faces)]
    if not crops:
        return {"faces": 0}
    with torch.inference_mode():
        logits = model.eval()(images_to_batch(crops, spec).to(device)).float().squeeze(1).cpu().numpy()
    probs = probabilities(logits, spec.calibration)
    verdicts = [spec.verdict_for(float(p)) for p in probs]
    return {
        "faces": len(crops),
        "called_deepfake": int((probs >= spec.threshold).sum()),
        "false_positive_rate": float((probs >= spec.threshold).mean()),
        "uncertain": verdicts.count(UNCERTAIN),
        "probabilities": [round(float(p), 4) for p in probs],
    }


def summarize(r: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a report, flat (the JSON line, the model card table)."""
    s: dict[str, Any] = {f"{k}": round(v, 4) for k, v in r["proxies"].items()}
    if r["dfdc"]:
        s["dfdc_accuracy"] = round(r["dfdc"]["accuracy"], 4)
    for source, v in r["by_source"].items():
        s[f"{source}_called_deepfake"] = round(v["called_deepfake_at_threshold"], 4)
        s[f"{source}_uncertain"] = round(v["verdict_share"][UNCERTAIN], 4)
    s["precision_deepfake"] = round(r["verdicts"]["precision_deepfake"], 4)
    s["precision_real"] = round(r["verdicts"]["precision_real"], 4)
    s["uncertain_share"] = round(r["verdicts"]["uncertain_share"], 4)
    if "photos" in r and r["photos"].get("faces"):
        s["photos_false_positive_rate"] = round(r["photos"]["false_positive_rate"], 4)
    return s


@dataclass(frozen=True)
class EvalConfig:
    data_dir: Path
    weights: Path
    split: str = "test"
    synthetic_dir: Path | None = None
    photos_dir: Path | None = None
    faces_cache: Path = Path("var/data")
    device: str = "cpu"
    workers: int = 2
    output_dir: Path | None = None


def evaluate(cfg: EvalConfig, progress: Callable[[str], None] = print) -> dict[str, Any]:
    spec = ModelSpec.load(cfg.weights)
    model = load_trained(cfg.weights, spec, cfg.device)
    roles = ("all",) if cfg.split == "all" else (cfg.split,)
    progress(f"evaluating {spec.name or spec.architecture} on {cfg.data_dir} ({cfg.split})")
    evals = evaluation_sets(cfg.data_dir, cfg.synthetic_dir, cfg.faces_cache, roles=roles, photos_dir=cfg.photos_dir)
    if not evals.has(roles[0]):
        raise ValueError(f"no images for split {cfg.split!r} in {cfg.data_dir}")
    out_dir = cfg.output_dir or Path(cfg.weights)
    result = report(model, evals, roles[0], spec, torch.device(cfg.device), out_dir, cfg.workers)
    result.update({"model": spec.name or spec.architecture, "data": str(cfg.data_dir), "split": cfg.split})
    return result


def format_report(r: dict[str, Any]) -> str:
    lines = [f"model      {r['model']}", f"data       {r['data']} (split: {r['split']})"]
    m = r["dfdc"]
    if m:
        cm = m["confusion_matrix"]
        lines += [
            "-- DFDC deepfakes vs DFDC reals (calibrated, threshold "
            f"{m['threshold']:.2f})",
            f"images     {m['n']} ({m['n_real']} real, {m['n_deepfake']} deepfake)",
            f"ROC AUC    {m['auc']:.4f}",
            f"accuracy   {m['accuracy']:.4f}",
            f"precision  {m['precision']:.4f}  recall {m['recall']:.4f}  (class Deepfake)",
            f"log-loss   {m['log_loss']:.4f}  ECE {m['ece']:.4f}",
            "confusion  predicted Real  predicted Deepfake",
            f"  Real     {cm['tn']:>14}  {cm['fp']:>18}",
            f"  Deepfake {cm['fn']:>14}  {cm['tp']:>18}",
        ]
    lines.append("-- AUC per fake family against its own reals")
    lines += [f"  {k:<18} {v:.4f}" for k, v in r["proxies"].items()]
    lines.append("-- per source: n, called Deepfake at the threshold, verdict shares Real / Uncertain / Deepfake")
    for source, v in r["by_source"].items():
        share = v["verdict_share"]
        lines.append(f"  {source:<14} {v['n']:>6}  {v['called_deepfake_at_threshold']:6.1%}   "
                     + " / ".join(f"{share[k]:.1%}" for k in ("Real", UNCERTAIN, "Deepfake")))
    vp = r["verdicts"]
    lines.append(f"-- verdicts (band [{vp['band'][0]:.3f}, {vp['band'][1]:.3f})): precision Deepfake "
                 f"{vp['precision_deepfake']:.3f}, Real {vp['precision_real']:.3f}; "
                 f"Uncertain {vp['uncertain_share']:.1%}")
    if "photos" in r and r["photos"].get("faces"):
        p = r["photos"]
        lines.append(f"-- real photos: {p['called_deepfake']} of {p['faces']} faces called Deepfake, "
                     f"{p['uncertain']} Uncertain; probabilities {p['probabilities']}")
    lines.append(json.dumps({**r["summary"], "model": r["model"], "split": r["split"],
                             "n": m.get("n", 0) if m else 0, "auc": m.get("auc") if m else None},
                            sort_keys=True))
    return "\n".join(lines)

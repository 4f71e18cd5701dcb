"""The training loop: seeded, class-balanced, best checkpoint by validation AUC, resumable.

Output folder: ``model.pt`` (best weights, a plain state dict) with ``model_spec.json`` beside it,
``last.pt`` (everything needed to resume), ``history.json`` (per-epoch metrics) and ``roc_val.png``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from server.model.factory import create_model, get_architecture, init_from_imagenet
from server.model.preprocess import normalize
from server.model.spec import WEIGHTS_FILENAME, Calibration, FaceCrop, ModelSpec, library_versions, sha256_file
from training.augment import DeepfakeAugment
from training.dataset import FaceCrops, Sample, discover, random_group_split, select, subsample
from training.evaluate import predict_logits
from training.metrics import classification_metrics, fit_platt, probabilities, save_roc_png

log = logging.getLogger("training")


@dataclass(frozen=True)
class TrainConfig:
    data_dir: Path
    output: Path
    model: str = "efficientnet_b0"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    warmup_epochs: float = 1.0
    init: str = "imagenet"  # imagenet | scratch
    init_checkpoint: Path | None = None
    device: str = "cpu"
    workers: int = 2
    seed: int = 42
    resume: Path | None = None
    limit: int = 0
    val_fraction: float = 0.1  # only without a manifest split
    channels_last: bool = True


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def split_samples(cfg: TrainConfig) -> tuple[list[Sample], list[Sample], str]:
    samples = discover(cfg.data_dir)
    if any(s.split == "val" for s in samples):
        train, val = select(samples, "train"), select(samples, "val")
        how = "manifest split (identity-disjoint train/val)"
    else:
        train, val = random_group_split(samples, cfg.val_fraction, cfg.seed)
        how = f"random {cfg.val_fraction:.0%} split by group (no manifest split found)"
        log.warning("no train/val split in a manifest: %s; the same person may be on both sides", how)
    return subsample(train, cfg.limit, cfg.seed), subsample(val, cfg.limit // 4, cfg.seed), how


def _autocast(device: torch.device) -> tuple[contextlib.AbstractContextManager[Any], torch.amp.GradScaler | None]:
    """bf16 autocast where the GPU has it, fp16 with a grad scaler otherwise; fp32 on CPU."""
    if device.type != "cuda":
        return contextlib.nullcontext(), None
    if torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16), None
    return torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda")


def train(cfg: TrainConfig) -> ModelSpec:
    seed_everything(cfg.seed)
    device = torch.device(cfg.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but CUDA is not available")
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)

    arch = get_architecture(cfg.model)
    spec = ModelSpec(
        architecture=arch.name, input_size=arch.input_size, mean=arch.mean, std=arch.std,
        face_crop=FaceCrop(note="DFDC crops: MTCNN face box, tight, resized to a square; see weights/README.md"),
    )
    train_samples, val_samples, split_how = split_samples(cfg)
    n_real = sum(1 for s in train_samples if s.label == 0)
    n_fake = len(train_samples) - n_real
    log.info("train: %d images (%d real, %d deepfake); val: %d images; %s",
             len(train_samples), n_real, n_fake, len(val_samples), split_how)

    model = create_model(cfg.model)
    init = "scratch"
    if cfg.init == "imagenet":
        init = init_from_imagenet(model, cfg.model, cfg.init_checkpoint)
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)

    train_ds = FaceCrops(train_samples, spec, augment=DeepfakeAugment(), seed=cfg.seed)
    val_ds = FaceCrops(val_samples, spec)
    generator = torch.Generator().manual_seed(cfg.seed)
    loader_kwargs: dict[str, Any] = {
        "num_workers": cfg.workers, "pin_memory": device.type == "cuda", "persistent_workers": cfg.workers > 0,
    }
    train_loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                              generator=generator, **loader_kwargs)
    val_loader = DataLoader(val_ds, batch_size=cfg.batch_size, shuffle=False, **loader_kwargs)

    # Class balance by loss weight: a deepfake counts n_real/n_fake times, so both classes weigh the same.
    criterion = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(n_real / max(1, n_fake), device=device))
    optimizer: torch.optim.Optimizer
    if cfg.optimizer == "adamw":
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = len(train_loader)
    total_steps = cfg.epochs * steps_per_epoch
    warmup = int(cfg.warmup_epochs * steps_per_epoch)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + float(np.cos(np.pi * min(1.0, progress))))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    autocast, scaler = _autocast(device)

    start_epoch, best_auc, history = 0, -1.0, []
    if cfg.resume:
        state = torch.load(cfg.resume, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch, best_auc, history = state["epoch"] + 1, state["best_auc"], state["history"]
        init = state["init"]
        best_so_far = Path(cfg.resume).parent / WEIGHTS_FILENAME
        if best_so_far.exists() and not (out / WEIGHTS_FILENAME).exists():
            shutil.copy2(best_so_far, out / WEIGHTS_FILENAME)  # resuming into a new folder keeps the best
        torch.set_rng_state(state["torch_rng"])
        generator.set_state(state["loader_rng"])
        log.info("resumed from %s at epoch %d (best val AUC so far %.4f)", cfg.resume, start_epoch + 1, best_auc)

    started = time.time()
    for epoch in range(start_epoch, cfg.epochs):
        train_ds.epoch = epoch
        model.train()
        running_loss, correct, seen = 0.0, 0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", dynamic_ncols=True)
        for images, labels in bar:
            images = images.to(device, non_blocking=True)
            if cfg.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            x = normalize(images, spec)
            y = labels.to(device, non_blocking=True).float()
            with autocast:
                logits = model(x).squeeze(1)
                loss = criterion(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            scheduler.step()
            running_loss += loss.item() * len(y)
            correct += int(((logits.detach() > 0).float() == y).sum())
            seen += len(y)
            bar.set_postfix(loss=f"{running_loss / seen:.4f}", acc=f"{correct / seen:.3f}",
                            lr=f"{scheduler.get_last_lr()[0]:.2e}")

        val_labels, val_logits = predict_logits(model, val_loader, spec, device, cfg.channels_last)
        val = classification_metrics(val_labels, 1 / (1 + np.exp(-val_logits)), 0.5)
        record = {"epoch": epoch + 1, "train_loss": running_loss / max(1, seen), "train_acc": correct / max(1, seen),
                  "val_auc": val["auc"], "val_acc": val["accuracy"], "val_log_loss": val["log_loss"],
                  "elapsed_s": round(time.time() - started, 1)}
        history.append(record)
        log.info("epoch %d: train loss %.4f acc %.3f | val AUC %.4f acc %.3f", epoch + 1,
                 record["train_loss"], record["train_acc"], val["auc"], val["accuracy"])
        if val["auc"] > best_auc:
            best_auc = val["auc"]
            torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                       out / WEIGHTS_FILENAME)
            log.info("new best val AUC %.4f: saved %s", best_auc, out / WEIGHTS_FILENAME)
        torch.save({
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None, "epoch": epoch, "best_auc": best_auc,
            "history": history, "init": init, "config": _jsonable(asdict(cfg)),
            "torch_rng": torch.get_rng_state(), "loader_rng": generator.get_state(),
        }, out / "last.pt")
        (out / "history.json").write_text(json.dumps(history, indent=2) + "\n")

    return finalize(cfg, spec, out, val_loader, device, init, history, split_how,
                    {"train": _counts(train_samples), "val": _counts(val_samples)})


def finalize(cfg: TrainConfig, spec: ModelSpec, out: Path, val_loader: DataLoader[Any], device: torch.device,
             init: str, history: list[dict[str, Any]], split_how: str, counts: dict[str, Any]) -> ModelSpec:
    """Reload the best weights, fit calibration on val, and write the spec with its metrics."""
    model = create_model(cfg.model)
    model.load_state_dict(torch.load(out / WEIGHTS_FILENAME, map_location="cpu", weights_only=True))
    model = model.to(device).eval()
    labels, logits = predict_logits(model, val_loader, spec, device, channels_last=False)
    try:
        calibration = fit_platt(labels, logits, fitted_on="val split")
    except ValueError as exc:
        log.warning("%s; keeping uncalibrated probabilities", exc)
        calibration = Calibration(fitted_on=f"not fitted: {exc}")
    probs = probabilities(logits, calibration)
    val = classification_metrics(labels, probs, spec.threshold)
    save_roc_png(labels, probs, out / "roc_val.png", f"{cfg.model} - val ({val['n']} images)")
    best_epoch = max(history, key=lambda r: r["val_auc"])["epoch"] if history else 0
    spec = spec.replace(
        name=f"{cfg.model}-dfdc",
        init=init,
        calibration=calibration,
        training={
            "data": str(cfg.data_dir.name),
            "split": split_how,
            "counts": counts,
            "config": _jsonable(asdict(cfg)),
            "best_epoch": best_epoch,
            "history": history,
        },
        metrics={"val": val},
        weights_sha256=sha256_file(out / WEIGHTS_FILENAME),
        versions=library_versions(),
    )
    spec.save(out)
    log.info("best epoch %d, val AUC %.4f, accuracy %.4f; spec written to %s", best_epoch, val["auc"],
             val["accuracy"], out)
    return spec


def _counts(samples: list[Sample]) -> dict[str, int]:
    real = sum(1 for s in samples if s.label == 0)
    return {"real": real, "deepfake": len(samples) - real}


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}

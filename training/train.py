"""The training loop: a seeded mix of sources, best checkpoint by a selection score on val, calibration and
the uncertain band on calib, numbers on test; resumable from any checkpoint, mid-epoch included.

Output folder: ``model.pt`` (best weights, a plain state dict) with ``model_spec.json`` beside it,
``last.pt`` (everything needed to resume, written every few minutes), ``history.json`` (per-epoch metrics),
``reliability_test.png`` and ``roc_test.png``.

The selection score is the mean of the val AUCs of the fake families that val has: DFDC deepfakes,
self-blended fakes of the val reals (the generalisation proxy) and synthetic portraits. Val chooses the
epoch; nothing else does. Calibration and the band are fitted on calib afterwards; test chooses nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
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
from training.dataset import Sample, discover, select, subsample
from training.evaluate import EvalSets, evaluation_sets, predict, report, score_sources
from training.faces import ensure_faces
from training.metrics import fit_platt, fit_uncertain_band, probabilities
from training.mix import GroupBatches, Item, MixedFaces, crop_items, portrait_items, quiet_worker
from training.splits import assign_roles

log = logging.getLogger("training")


@dataclass(frozen=True)
class TrainConfig:
    data_dir: Path  # face crops: real/ + fake/ (or deepfake/) with an optional manifest
    output: Path
    synthetic_dir: Path | None = None  # fully synthetic portraits with real ones (synthetic-faces layout)
    photos_dir: Path | None = None  # real photos: false positives reported on test
    faces_cache: Path = Path("var/data")  # where found faces and landmarks are kept
    self_blend: bool = True
    portrait_repeat: int = 2  # each portrait is seen this often per epoch (the set is small)
    model: str = "efficientnet_lite0"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    warmup_epochs: float = 0.3
    freeze_stages: int = 0  # the stem and this many first stages keep their ImageNet weights
    init: str = "imagenet"  # imagenet | scratch
    init_checkpoint: Path | None = None
    device: str = "cpu"
    workers: int = 2
    threads: int = 0  # torch threads in the training process; 0: torch's default
    seed: int = 42
    resume: Path | None = None
    limit: int = 0
    checkpoint_minutes: float = 10.0
    channels_last: bool = True


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def training_items(cfg: TrainConfig) -> tuple[list[list[Item]], dict[str, Any]]:
    """Groups of training items and what they hold."""
    samples = subsample(select(assign_roles(discover(cfg.data_dir)), "train"), cfg.limit, cfg.seed)
    marks = _faces(cfg.data_dir, [s for s in samples if s.label == 0], cfg) if cfg.self_blend else {}
    groups = crop_items(samples, marks, cfg.data_dir, cfg.self_blend)
    if cfg.synthetic_dir is not None:
        portraits = subsample(select(assign_roles(discover(cfg.synthetic_dir)), "train"), cfg.limit // 4, cfg.seed)
        items = portrait_items(portraits, _faces(cfg.synthetic_dir, portraits, cfg), cfg.synthetic_dir)
        groups += [[item] for _ in range(cfg.portrait_repeat) for item in items]
    counts: dict[str, int] = {}
    for group in groups:
        for item in group:
            counts[item.source] = counts.get(item.source, 0) + 1
    return groups, counts


def _faces(data_dir: Path, samples: list[Sample], cfg: TrainConfig) -> dict[str, Any]:
    return ensure_faces(data_dir, [str(s.path.relative_to(data_dir)) for s in samples], cfg.faces_cache)


def freeze_early_stages(model: nn.Module, stages: int) -> list[nn.Module]:
    """Freeze the stem and the first ``stages`` block stages (weights and batch-norm statistics).

    Their activations are the largest in the network, so skipping their backward pass is most of the
    saving: measured on the 2-core CPU, EfficientNet-Lite0 trains about twice as fast with 2 stages frozen.
    """
    if stages <= 0:
        return []
    if not hasattr(model, "blocks") or not hasattr(model, "conv_stem"):
        raise ValueError(f"--freeze-stages needs an EfficientNet/MobileNet-style model, not {type(model).__name__}")
    blocks: nn.Sequential = model.blocks  # type: ignore[assignment]
    frozen: list[nn.Module] = [model.get_submodule("conv_stem"), model.get_submodule("bn1"), *list(blocks)[:stages]]
    for module in frozen:
        module.requires_grad_(False)
        module.eval()
    return frozen


def build_model(cfg: TrainConfig, device: torch.device) -> tuple[nn.Module, list[nn.Module], str]:
    """The model, initialised and on ``device``, its frozen modules, and how it was initialised."""
    model = create_model(cfg.model)
    init = "scratch"
    if cfg.init == "imagenet":
        init = init_from_imagenet(model, cfg.model, cfg.init_checkpoint)
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, freeze_early_stages(model, cfg.freeze_stages), init


def build_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def train_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, spec: ModelSpec, criterion: nn.Module,
               optimizer: torch.optim.Optimizer, autocast: contextlib.AbstractContextManager[Any],
               scaler: torch.amp.GradScaler | None, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor,
                                                                                 torch.Tensor]:
    """One optimisation step on a batch of uint8 images; returns the loss, the logits and the targets."""
    device = next(model.parameters()).device
    images = images.to(device, non_blocking=True)
    if channels_last:
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
    return loss, logits, y


def train(cfg: TrainConfig) -> ModelSpec:
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
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
    groups, counts = training_items(cfg)
    items = [item for group in groups for item in group]
    index_groups, start = [], 0
    for group in groups:
        index_groups.append(list(range(start, start + len(group))))
        start += len(group)
    n_fake = sum(item.label for item in items)
    n_real = len(items) - n_fake
    log.info("train: %d images per epoch (%s)", len(items), ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    evals = evaluation_sets(cfg.data_dir, cfg.synthetic_dir, cfg.faces_cache, cfg.limit, photos_dir=cfg.photos_dir)

    model, frozen, init = build_model(cfg, device)
    train_ds = MixedFaces(items, spec, augment=DeepfakeAugment(), seed=cfg.seed)
    sampler = GroupBatches(index_groups, cfg.batch_size, cfg.seed)
    loader_kwargs: dict[str, Any] = {"num_workers": cfg.workers, "pin_memory": device.type == "cuda",
                                     "persistent_workers": False}
    if cfg.workers:
        loader_kwargs.update(prefetch_factor=4, worker_init_fn=quiet_worker)
    val_loader = evals.loader("val", spec, cfg.batch_size, cfg.workers)

    # Class balance by loss weight: the fakes count n_real/n_fake each, so both classes weigh the same.
    criterion = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(n_real / max(1, n_fake), device=device))
    optimizer = build_optimizer(cfg, model)
    steps_per_epoch = len(sampler.batches())
    total_steps = cfg.epochs * steps_per_epoch
    warmup = max(1, int(cfg.warmup_epochs * steps_per_epoch))

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + float(np.cos(np.pi * min(1.0, progress))))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    autocast, scaler = _autocast(device)

    state: dict[str, Any] = {"epoch": 0, "batch": 0, "best_score": -1.0, "history": [], "init": init,
                             "running": {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0, "data_wait": 0.0}}
    if cfg.resume:
        state = _resume(cfg, out, model, optimizer, scheduler, scaler)
        init = state["init"]

    def checkpoint() -> None:
        _save_checkpoint(out / "last.pt", model, optimizer, scheduler, scaler, state, cfg)

    run_started = time.time()
    last_checkpoint = time.time()
    done_steps = state["epoch"] * steps_per_epoch + state["batch"]
    bar = tqdm(total=total_steps, initial=done_steps, desc="training", unit="batch", dynamic_ncols=True)
    for epoch in range(state["epoch"], cfg.epochs):
        train_ds.epoch = sampler.epoch = epoch
        sampler.start = state["batch"]
        loader = DataLoader(train_ds, batch_sampler=sampler, **loader_kwargs)
        model.train()
        for module in frozen:
            module.eval()
        running = state["running"]
        tick = time.perf_counter()
        for images, labels, _sources in loader:
            running["data_wait"] += time.perf_counter() - tick
            loss, logits, y = train_step(model, images, labels, spec, criterion, optimizer, autocast, scaler,
                                         cfg.channels_last)
            scheduler.step()
            state["batch"] += 1
            running["loss"] += loss.item() * len(y)
            running["correct"] += int(((logits.detach() > 0).float() == y).sum())
            running["seen"] += len(y)
            now = time.perf_counter()
            running["seconds"] += now - tick
            tick = now
            bar.update(1)
            seen = running["seen"]
            bar.set_postfix(epoch=f"{epoch + 1}/{cfg.epochs}", loss=f"{running['loss'] / seen:.4f}",
                            acc=f"{running['correct'] / seen:.3f}", img_s=f"{seen / running['seconds']:.1f}")
            if time.time() - last_checkpoint > cfg.checkpoint_minutes * 60:
                checkpoint()
                last_checkpoint = time.time()
                tick = time.perf_counter()

        record = _end_of_epoch(epoch, model, val_loader, evals, spec, device, cfg, running)
        state["history"].append(record)
        if record["selection_score"] > state["best_score"]:
            state["best_score"] = record["selection_score"]
            torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                       out / WEIGHTS_FILENAME)
            log.info("new best selection score %.4f: saved %s", state["best_score"], out / WEIGHTS_FILENAME)
        state.update(epoch=epoch + 1, batch=0,
                     running={"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0, "data_wait": 0.0})
        checkpoint()
        (out / "history.json").write_text(json.dumps(state["history"], indent=2) + "\n")
    bar.close()
    log.info("training took %.1f min in this session", (time.time() - run_started) / 60)

    return finalize(cfg, spec, out, evals, device, init, state["history"], counts)


def _end_of_epoch(epoch: int, model: nn.Module, val_loader: DataLoader[Any], evals: EvalSets, spec: ModelSpec,
                  device: torch.device, cfg: TrainConfig, running: dict[str, Any]) -> dict[str, Any]:
    labels, logits, sources = predict(model, val_loader, spec, device, cfg.channels_last)
    scores = score_sources(labels, logits, sources)
    seen = max(1, running["seen"])
    record = {
        "epoch": epoch + 1, "train_loss": running["loss"] / seen, "train_acc": running["correct"] / seen,
        **{f"val_{k}": v for k, v in scores.items()},
        "selection_score": scores["selection_score"],
        "train_images_per_s": round(seen / max(1e-9, running["seconds"]), 2),
        "data_wait_share": round(running["data_wait"] / max(1e-9, running["seconds"]), 4),
    }
    log.info("epoch %d: train loss %.4f acc %.3f, %.1f img/s (%.0f%% waiting for data) | val %s",
             epoch + 1, record["train_loss"], record["train_acc"], record["train_images_per_s"],
             100 * record["data_wait_share"], ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    return record


def _save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                     scaler: torch.amp.GradScaler | None, state: dict[str, Any], cfg: TrainConfig) -> None:
    tmp = path.with_suffix(".tmp")
    best = path.parent / WEIGHTS_FILENAME
    torch.save({
        "best_model": torch.load(best, map_location="cpu", weights_only=True) if best.exists() else None,
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None, **state,
        "config": _jsonable(asdict(cfg)), "torch_rng": torch.get_rng_state(),
    }, tmp)
    tmp.replace(path)  # a stop while writing leaves the previous checkpoint whole


def _resume(cfg: TrainConfig, out: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
            scaler: torch.amp.GradScaler | None) -> dict[str, Any]:
    assert cfg.resume is not None
    saved = torch.load(cfg.resume, map_location="cpu", weights_only=False)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    if scaler is not None and saved.get("scaler"):
        scaler.load_state_dict(saved["scaler"])
    torch.set_rng_state(saved["torch_rng"])
    if saved.get("best_model") is not None:  # the checkpoint carries the best weights: it is enough alone
        torch.save(saved["best_model"], out / WEIGHTS_FILENAME)
    state = {k: saved[k] for k in ("epoch", "batch", "best_score", "history", "init", "running")}
    log.info("resumed from %s at epoch %d, batch %d (best selection score so far %.4f)", cfg.resume,
             state["epoch"] + 1, state["batch"], state["best_score"])
    return state


def finalize(cfg: TrainConfig, spec: ModelSpec, out: Path, evals: EvalSets, device: torch.device, init: str,
             history: list[dict[str, Any]], counts: dict[str, int]) -> ModelSpec:
    """Reload the best weights; fit calibration and the uncertain band on calib; report val and test."""
    model = create_model(cfg.model)
    model.load_state_dict(torch.load(out / WEIGHTS_FILENAME, map_location="cpu", weights_only=True))
    model = model.to(device).eval()
    calib_role = "calib" if evals.has("calib") else "val"
    if calib_role != "calib":
        log.warning("no calib split: calibration and band are fitted on val, which also chose the epoch")
    labels, logits, _ = predict(model, evals.loader(calib_role, spec, 32, cfg.workers, self_blended=False),
                                spec, device, channels_last=False)
    try:
        calibration = fit_platt(labels, logits, fitted_on=f"{calib_role} split ({evals.describe(calib_role)})")
    except ValueError as exc:
        log.warning("%s; keeping uncalibrated probabilities", exc)
        calibration = Calibration(fitted_on=f"not fitted: {exc}")
    band = fit_uncertain_band(labels, probabilities(logits, calibration), spec.threshold, 0.95,
                              fitted_on=f"{calib_role} split")
    spec = spec.replace(calibration=calibration, uncertain=band)
    reports = {role: report(model, evals, role, spec, device, out, cfg.workers)
               for role in ("val", "test") if evals.has(role)}
    best_epoch = max(history, key=lambda r: r["selection_score"])["epoch"] if history else 0
    spec = spec.replace(
        name=f"{cfg.model}-dfdc-sbi" if cfg.self_blend else f"{cfg.model}-dfdc",
        init=init,
        training={
            "data": str(cfg.data_dir.name),
            "synthetic": str(cfg.synthetic_dir.name) if cfg.synthetic_dir else "",
            "split": "manifest split (identity-disjoint); val units dealt into val / calib / test "
                     "(training/splits.py)",
            "counts": {"train": counts, **{role: evals.counts(role) for role in ("val", "calib", "test")}},
            "config": _jsonable(asdict(cfg)),
            "best_epoch": best_epoch,
            "history": history,
        },
        metrics={
            **{role: r["dfdc"] for role, r in reports.items()},
            "reports": reports,
        },
        weights_sha256=sha256_file(out / WEIGHTS_FILENAME),
        versions=library_versions(),
    )
    spec.save(out)
    for role, r in reports.items():
        log.info("%s: DFDC AUC %.4f; %s", role, r["dfdc"]["auc"], json.dumps(r["summary"]))
    log.info("best epoch %d; band [%.3f, %.3f); spec written to %s", best_epoch, band.low, band.high, out)
    return spec


def _autocast(device: torch.device) -> tuple[contextlib.AbstractContextManager[Any], torch.amp.GradScaler | None]:
    """bf16 autocast where the GPU has it, fp16 with a grad scaler otherwise; fp32 on CPU."""
    if device.type != "cuda":
        return contextlib.nullcontext(), None
    if torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16), None
    return torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda")


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}

"""How fast training runs end to end against the model alone, on this machine.

``python -m training speed --data-dir DIR [--synthetic-dir DIR] --model M --freeze-stages N`` runs the same
optimisation steps twice: on random images already in memory (the model alone: forward, backward, optimiser)
and from the real data pipeline (decode, self-blending, portrait crops, augmentation in the loader's
processes). Prints both speeds and their ratio; the pipeline should reach at least 85% of the model alone.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from server.model.factory import get_architecture
from server.model.spec import ModelSpec
from training.augment import DeepfakeAugment
from training.mix import GroupBatches, MixedFaces, quiet_worker
from training.train import TrainConfig, build_model, build_optimizer, train_step, training_items


@dataclass(frozen=True)
class Speed:
    model_only: float  # images per second
    pipeline: float
    data_wait_share: float  # of the pipeline's wall time, spent waiting for the loader

    @property
    def ratio(self) -> float:
        return self.pipeline / self.model_only


def measure(cfg: TrainConfig, steps: int, warmup: int = 3) -> Speed:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    arch = get_architecture(cfg.model)
    spec = ModelSpec(architecture=arch.name, input_size=arch.input_size, mean=arch.mean, std=arch.std)
    model, frozen, _ = build_model(cfg, device)
    optimizer = build_optimizer(cfg, model)
    criterion = nn.BCEWithLogitsLoss()
    model.train()
    for module in frozen:
        module.eval()

    def step(images: torch.Tensor, labels: torch.Tensor) -> None:
        train_step(model, images, labels, spec, criterion, optimizer, contextlib.nullcontext(), None,
                   cfg.channels_last)

    size = arch.input_size
    images = torch.randint(0, 256, (cfg.batch_size, 3, size, size), dtype=torch.uint8)
    labels = torch.randint(0, 2, (cfg.batch_size,))
    for _ in range(warmup):
        step(images, labels)
    started = time.perf_counter()
    for _ in range(steps):
        step(images, labels)
    model_only = steps * cfg.batch_size / (time.perf_counter() - started)

    groups, _ = training_items(cfg)
    items = [item for group in groups for item in group]
    index_groups, start = [], 0
    for group in groups:
        index_groups.append(list(range(start, start + len(group))))
        start += len(group)
    dataset = MixedFaces(items, spec, augment=DeepfakeAugment(), seed=cfg.seed)
    loader = DataLoader(dataset, batch_sampler=GroupBatches(index_groups, cfg.batch_size, cfg.seed),
                        num_workers=cfg.workers, prefetch_factor=4 if cfg.workers else None,
                        worker_init_fn=quiet_worker if cfg.workers else None)
    batches = iter(loader)
    for _ in range(warmup):  # includes starting the loader's processes
        step(*next(batches)[:2])
    seen, waited = 0, 0.0
    started = tick = time.perf_counter()
    for _ in range(steps):
        batch_images, batch_labels, _sources = next(batches)
        waited += time.perf_counter() - tick
        step(batch_images, batch_labels)
        seen += len(batch_labels)
        tick = time.perf_counter()
    elapsed = time.perf_counter() - started
    return Speed(model_only=model_only, pipeline=seen / elapsed, data_wait_share=waited / elapsed)


def format_speed(cfg: TrainConfig, speed: Speed, steps: int) -> str:
    frozen = f", stem + {cfg.freeze_stages} stages frozen" if cfg.freeze_stages else ""
    return "\n".join([
        f"model      {cfg.model} at {get_architecture(cfg.model).input_size} px{frozen}, batch {cfg.batch_size}, "
        f"{torch.get_num_threads()} torch threads, {cfg.workers} loader processes, {steps} steps each",
        f"model only {speed.model_only:7.1f} img/s  (random images in memory: forward, backward, optimiser)",
        f"pipeline   {speed.pipeline:7.1f} img/s  (decode, self-blend, crops, augmentation + the same steps; "
        f"{speed.data_wait_share:.0%} of it waiting for data)",
        f"ratio      {speed.ratio:7.1%}  (target: at least 85%)",
    ])

"""The training mix: real face crops, the deepfakes made from them, self-blended fakes of the same crops,
and fully synthetic portraits with their own real photos -- each with its source, for per-source numbers.

Batches keep families together: a real DFDC crop, its self-blended fake and the DFDC deepfake made from
the same source video travel in one group and so in one batch. The model then sees the same person on both
sides of the label in every step and cannot score identities instead of manipulations.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from server.config import Config
from server.model.preprocess import RESAMPLE, crop_face, fit_to_input, to_uint8_chw
from server.model.spec import ModelSpec
from training.augment import DeepfakeAugment
from training.dataset import Sample
from training.faces import FaceMarks
from training.sbi import SelfBlend

# Sources, in a fixed order (their index travels with every image).
DFDC_REAL, DFDC_FAKE, SELF_BLENDED, PORTRAIT_REAL, STYLEGAN, DIFFUSION = (
    "dfdc-real", "dfdc-fake", "self-blended", "portrait-real", "stylegan2", "diffusion",
)
SOURCES = (DFDC_REAL, DFDC_FAKE, SELF_BLENDED, PORTRAIT_REAL, STYLEGAN, DIFFUSION)
REAL_SOURCES = (DFDC_REAL, PORTRAIT_REAL)
PORTRAIT_FAKES = (STYLEGAN, DIFFUSION)


@dataclass(frozen=True)
class Item:
    """One image the model sees: a file, its label, its source, and what the source needs."""

    path: Path
    label: int  # 0 real, 1 fake
    source: str
    marks: FaceMarks | None = None  # landmarks (self-blended) or the face box to crop (portraits)


def portrait_source(sample: Sample) -> str:
    if sample.label == 0:
        return PORTRAIT_REAL
    return DIFFUSION if "diffusion" in sample.generator.lower() else STYLEGAN


def crop_items(samples: list[Sample], marks: dict[str, FaceMarks], data_dir: Path,
               self_blend: bool) -> list[list[Item]]:
    """Groups of DFDC items: each real crop with its self-blended fake (when ``self_blend`` and its face was
    found) and the deepfakes made from its video; deepfakes whose real crop is elsewhere stand alone."""
    groups: dict[str, list[Item]] = {}
    lone: list[list[Item]] = []
    for s in samples:
        if s.label == 0:
            rel = str(s.path.relative_to(data_dir))
            group = groups.setdefault(s.path.stem, [])
            group.insert(0, Item(s.path, 0, DFDC_REAL))
            face = marks.get(rel)
            if self_blend and face is not None:
                group.insert(1, Item(s.path, 1, SELF_BLENDED, face))
    for s in samples:
        if s.label == 1:
            item = Item(s.path, 1, DFDC_FAKE)
            if s.source_video in groups:
                groups[s.source_video].append(item)
            else:
                lone.append([item])
    return list(groups.values()) + lone


def portrait_items(samples: list[Sample], marks: dict[str, FaceMarks], data_dir: Path) -> list[Item]:
    """Synthetic portraits and their real counterparts whose face the service would find (with its default
    confidence and size limits); the rest cannot be cropped the way the service crops, so they are left out."""
    service = Config()
    items = []
    for s in samples:
        face = marks.get(str(s.path.relative_to(data_dir)))
        if face is not None and face.confidence >= service.face_min_confidence and face.min_side >= service.min_face_px:
            items.append(Item(s.path, s.label, portrait_source(s), face))
    return items


class MixedFaces(Dataset[tuple[torch.Tensor, int, int]]):
    """Items as (uint8 CHW tensor of the model's input size, label, source index).

    With ``augment``, images are augmented (deterministically per seed, epoch and index) and portraits are
    shrunk to a random size first, so that resolution says nothing about the label; without it (evaluation)
    self-blended fakes are still made, from a fixed per-item seed, and portraits are used as they are.
    """

    def __init__(self, items: list[Item], spec: ModelSpec, augment: DeepfakeAugment | None = None,
                 seed: int = 0, portrait_side: tuple[int, int] = (88, 128)) -> None:
        self.items = items
        self.spec = spec
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.portrait_side = portrait_side
        self.self_blend = SelfBlend()
        cache: dict[Path, bytes] = {}
        self._bytes = [cache[i.path] if i.path in cache else cache.setdefault(i.path, i.path.read_bytes())
                       for i in items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        item = self.items[index]
        rng = np.random.default_rng([self.seed, self.epoch if self.augment else 0, index])
        image = Image.open(io.BytesIO(self._bytes[index])).convert("RGB")
        if item.source == SELF_BLENDED:
            assert item.marks is not None
            image = Image.fromarray(self.self_blend(np.asarray(image), item.marks.points, rng).image)
        elif item.marks is not None:  # a portrait: cut the face the way the service does
            scale = 1.0
            if self.augment is not None:
                side = rng.integers(self.portrait_side[0], self.portrait_side[1] + 1)
                scale = min(1.0, float(side) / max(image.size))
                image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                     RESAMPLE, reducing_gap=2.0)
            x0, y0, x1, y1 = item.marks.box
            image = crop_face(image, (x0 * scale, y0 * scale, x1 * scale, y1 * scale), self.spec)
        if self.augment is not None:
            image = self.augment(image, random.Random(int(rng.integers(1 << 62))))
        return to_uint8_chw(fit_to_input(image, self.spec)), item.label, SOURCES.index(item.source)


def quiet_worker(_worker_id: int) -> None:
    """DataLoader worker set-up: one thread each for OpenCV and torch. The model's threads own the cores;
    a worker that fanned out too would preempt them at every synchronisation point."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


class GroupBatches(Sampler[list[int]]):
    """Batches of whole groups, reshuffled every epoch by seed; resumable from any batch.

    Groups are shuffled, then packed in order: a batch closes once it holds ``batch_size`` items or the next
    group would overflow it by more than one item, so batches hold ``batch_size - 2 .. batch_size + 1``.
    """

    def __init__(self, groups: list[list[int]], batch_size: int, seed: int) -> None:
        self.groups = groups
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self.start = 0  # batches of this epoch already done (a resumed run skips them)

    def batches(self) -> list[list[int]]:
        order = list(range(len(self.groups)))
        random.Random(f"{self.seed}/{self.epoch}").shuffle(order)
        batches: list[list[int]] = []
        current: list[int] = []
        for g in order:
            group = self.groups[g]
            if current and len(current) + len(group) > self.batch_size + 1:
                batches.append(current)
                current = []
            current = current + group
            if len(current) >= self.batch_size:
                batches.append(current)
                current = []
        if len(current) >= self.batch_size // 2:
            batches.append(current)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()[self.start:]

    def __len__(self) -> int:
        return len(self.batches()) - self.start

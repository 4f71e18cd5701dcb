"""Face-crop datasets in the original app's layout: ``real/`` and ``deepfake/`` (or ``fake/``).

An optional ``manifest.csv`` (columns ``path`` or ``file``, ``label`` and optionally ``split``,
``split_unit``, ``generator``) names the split; use it, because a random image split puts the same person on
both sides. ``training.splits`` refines the shared data's splits into train / val / calib / test.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from server.model.preprocess import fit_to_input, to_uint8_chw
from server.model.spec import ModelSpec

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
CLASS_FOLDERS = {"real": 0, "deepfake": 1, "fake": 1}
MANIFEST_LABELS = {"real": 0, "fake": 1, "deepfake": 1}
MANIFEST = "manifest.csv"


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int  # 0 real, 1 deepfake
    split: str = ""
    group: str = ""  # identity group that must stay on one side of a split
    generator: str = ""  # what made the image, where the manifest says (reported per generator)
    source_video: str = ""  # the real video a deepfake was made from (its real crop is ``<source_video>.jpg``)


def discover(data_dir: Path) -> list[Sample]:
    """Every labelled image under ``data_dir``, from its manifest when it has one."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data directory not found: {data_dir}")
    manifest = data_dir / MANIFEST
    samples = _from_manifest(data_dir, manifest) if manifest.exists() else _from_folders(data_dir)
    if not samples:
        raise ValueError(f"no images found in {data_dir}: expected real/ and deepfake/ (or fake/) folders")
    return samples


def _from_folders(data_dir: Path) -> list[Sample]:
    samples = []
    for folder, label in CLASS_FOLDERS.items():
        root = data_dir / folder
        if root.is_dir():
            samples += [
                Sample(path, label) for path in sorted(root.rglob("*")) if path.suffix.lower() in IMAGE_SUFFIXES
            ]
    return samples


def _from_manifest(data_dir: Path, manifest: Path) -> list[Sample]:
    samples = []
    with open(manifest, newline="") as fh:
        for row in csv.DictReader(fh):
            label = MANIFEST_LABELS.get(row["label"].strip().lower())
            if label is None:
                raise ValueError(f"{manifest}: unknown label {row['label']!r} in {row}")
            path = row.get("path") or row.get("file")
            if not path:
                raise ValueError(f"{manifest}: a row without a path (columns path or file)")
            samples.append(Sample(data_dir / path, label, row.get("split", ""), row.get("split_unit", ""),
                                  row.get("generator", ""), Path(row.get("source_video", "")).stem))
    return samples


def select(samples: list[Sample], split: str) -> list[Sample]:
    """The samples of one manifest split; ``all`` keeps everything."""
    if split == "all":
        return samples
    chosen = [s for s in samples if s.split == split]
    if not chosen:
        splits = sorted({s.split for s in samples if s.split})
        raise ValueError(f"split {split!r} not found (splits here: {', '.join(splits) or 'none, no manifest'})")
    return chosen


def random_group_split(samples: list[Sample], val_fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """A seeded split keeping each group (or, without groups, each image) on one side."""
    groups = sorted({s.group or str(s.path) for s in samples})
    random.Random(seed).shuffle(groups)
    val_groups = set(groups[: max(1, int(len(groups) * val_fraction))])
    train = [s for s in samples if (s.group or str(s.path)) not in val_groups]
    val = [s for s in samples if (s.group or str(s.path)) in val_groups]
    return train, val


def subsample(samples: list[Sample], limit: int, seed: int) -> list[Sample]:
    """A seeded, class-stratified subset of at most ``limit`` samples (for smoke runs)."""
    if limit <= 0 or limit >= len(samples):
        return samples
    rng = random.Random(seed)
    by_label: dict[int, list[Sample]] = {0: [], 1: []}
    for s in samples:
        by_label[s.label].append(s)
    out: list[Sample] = []
    for items in by_label.values():
        share = round(limit * len(items) / len(samples))
        out += rng.sample(items, min(share, len(items)))
    return sorted(out, key=lambda s: str(s.path))


class FaceCrops(Dataset[tuple[torch.Tensor, int]]):
    """Decoded face crops as uint8 CHW tensors of the model's input size.

    File bytes are read once and kept in memory (the DFDC crops are ~7 kB each), so epochs after the
    first cost decoding only. Normalisation happens on the batch, on the training device.
    """

    def __init__(
        self,
        samples: list[Sample],
        spec: ModelSpec,
        augment: Callable[[Image.Image, random.Random], Image.Image] | None = None,
        seed: int = 0,
    ) -> None:
        self.samples = samples
        self.spec = spec
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self._bytes = [s.path.read_bytes() for s in samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = Image.open(io.BytesIO(self._bytes[index])).convert("RGB")
        if self.augment is not None:
            # Per-sample, per-epoch seed: reproducible whatever the worker count.
            rng = random.Random(hash((self.seed, self.epoch, index)))
            image = self.augment(image, rng)
        return to_uint8_chw(fit_to_input(image, self.spec)), self.samples[index].label

    def labels(self) -> list[int]:
        return [s.label for s in self.samples]

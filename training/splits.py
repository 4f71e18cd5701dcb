"""Four roles for labelled data, so that every number reported rests on data that chose nothing.

- ``train``: fits the weights.
- ``val``: chooses the epoch and the candidate.
- ``calib``: fits the calibration and the uncertain band, after everything else is fixed.
- ``test``: chooses nothing; its numbers are reported, never looked at to decide.

The shared data comes with two splits. ``dfdc-faces`` has ``train`` and ``val`` by identity: its val split
units (identity groups) are dealt into val / calib / test thirds, balanced by real-image count, so no person
is in two roles. ``synthetic-faces`` has ``train`` and ``eval``: eval is the test role, and a fixed tenth
of train each (by a hash of the file name) becomes val and calib. The rules are code, not files: the same
manifest always gives the same roles, and the spec records them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections import Counter

from training.dataset import Sample

ROLES = ("train", "val", "calib", "test")
HELD_OUT = ("val", "calib", "test")
SEED = 20261204


def assign_roles(samples: list[Sample]) -> list[Sample]:
    """The samples with ``split`` rewritten to one of ``ROLES``."""
    splits = {s.split for s in samples}
    if "eval" in splits:
        return [_by_file_hash(s) if s.split == "train" else dataclasses.replace(s, split="test") for s in samples]
    if "val" in splits:
        roles = deal_units(samples)
        return [dataclasses.replace(s, split=roles[s.group]) if s.split == "val" else s for s in samples]
    return samples


def deal_units(samples: list[Sample]) -> dict[str, str]:
    """Val-split units dealt into val / calib / test, each time to the role with the fewest real images."""
    reals = Counter(s.group for s in samples if s.split == "val" and s.label == 0)
    units = sorted({s.group for s in samples if s.split == "val"})
    random.Random(SEED).shuffle(units)
    units.sort(key=lambda u: -reals[u])  # stable: shuffled order breaks ties
    load = dict.fromkeys(HELD_OUT, 0)
    roles: dict[str, str] = {}
    for unit in units:
        role = min(HELD_OUT, key=lambda r: (load[r], HELD_OUT.index(r)))
        roles[unit] = role
        load[role] += max(1, reals[unit])
    return roles


def _by_file_hash(sample: Sample) -> Sample:
    bucket = int(hashlib.sha1(sample.path.name.encode()).hexdigest(), 16) % 10
    return dataclasses.replace(sample, split={0: "val", 1: "calib"}.get(bucket, "train"))

"""The training mix, its batches and the four roles of the data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from training.dataset import Sample, discover
from training.faces import FaceMarks
from training.mix import DFDC_FAKE, DFDC_REAL, SELF_BLENDED, GroupBatches, crop_items
from training.splits import HELD_OUT, assign_roles, deal_units


def test_dfdc_val_units_are_dealt_into_three_roles_without_sharing_a_person(dfdc_dir: Path) -> None:
    samples = discover(dfdc_dir)
    roles = assign_roles(samples)
    assert roles == assign_roles(samples)  # the same manifest always gives the same roles
    by_role = {r: [s for s in roles if s.split == r] for r in ("train", *HELD_OUT)}
    assert len(by_role["train"]) == sum(1 for s in samples if s.split == "train")  # train is untouched
    units = {r: {s.group for s in v} for r, v in by_role.items()}
    for a in units:
        for b in units:
            assert a == b or not units[a] & units[b]
    reals = [sum(1 for s in by_role[r] if s.label == 0) for r in HELD_OUT]
    assert min(reals) > 0.9 * max(reals)  # balanced thirds


def test_synthetic_eval_is_the_test_role_and_train_gives_val_and_calib(synthetic_dir: Path) -> None:
    roles = assign_roles(discover(synthetic_dir))
    counts = Counter(s.split for s in roles)
    assert counts["test"] == 1123  # the whole eval split
    assert 0.07 < counts["val"] / 4342 < 0.13 and 0.07 < counts["calib"] / 4342 < 0.13
    assert {s.split for s in roles} == {"train", "val", "calib", "test"}


def test_dealing_is_deterministic_and_uses_every_unit() -> None:
    samples = [Sample(Path(f"{u}-{i}.jpg"), i % 2, "val", f"u{u}") for u in range(9) for i in range(u + 2)]
    roles = deal_units(samples)
    assert roles == deal_units(list(reversed(samples)))
    assert set(roles) == {f"u{u}" for u in range(9)} and set(roles.values()) == set(HELD_OUT)


def _marks() -> FaceMarks:
    return FaceMarks((0, 0, 10, 10), np.zeros((5, 2), np.float32), 1.0)


def test_a_real_crop_its_self_blend_and_its_deepfake_form_one_group(tmp_path: Path) -> None:
    real = Sample(tmp_path / "real" / "abc.jpg", 0, "train", "u1", source_video="abc")
    fake = Sample(tmp_path / "fake" / "xyz.jpg", 1, "train", "u1", source_video="abc")
    orphan = Sample(tmp_path / "fake" / "q.jpg", 1, "train", "u2", source_video="elsewhere")
    groups = crop_items([fake, real, orphan], {"real/abc.jpg": _marks()}, tmp_path, self_blend=True)
    assert [[i.source for i in g] for g in groups] == [[DFDC_REAL, SELF_BLENDED, DFDC_FAKE], [DFDC_FAKE]]
    assert groups[0][1].path == real.path and groups[0][1].label == 1
    # Without landmarks (no face found) or without self-blending, the real crop stands with its deepfake only.
    assert [[i.source for i in g] for g in crop_items([real, fake], {}, tmp_path, self_blend=True)] == [
        [DFDC_REAL, DFDC_FAKE]]


def test_batches_keep_groups_whole_reshuffle_per_epoch_and_resume() -> None:
    groups = [[3 * g + k for k in range(1 + g % 3)] for g in range(40)]
    sampler = GroupBatches(groups, batch_size=8, seed=1)
    first = sampler.batches()
    where = {i: b for b, batch in enumerate(first) for i in batch}
    for group in groups:
        assert len({where[i] for i in group}) == 1
    assert all(6 <= len(b) <= 9 for b in first[:-1])
    assert sorted(i for b in first for i in b) == sorted(i for g in groups for i in g)
    assert sampler.batches() == first
    sampler.epoch = 1
    assert sampler.batches() != first
    sampler.epoch, sampler.start = 0, 2
    assert list(sampler) == first[2:] and len(sampler) == len(first) - 2


def test_found_faces_survive_the_cache_file(tmp_path: Path) -> None:
    from training.faces import MISS, load, save

    points = np.arange(10, dtype=np.float32).reshape(5, 2) + 0.25
    marks = {"a/1.jpg": FaceMarks((1.5, 2.5, 40.25, 60.75), points, 0.99), "b.jpg": MISS}
    save(tmp_path / "x.faces.csv", marks)
    back = load(tmp_path / "x.faces.csv")
    assert back["a/1.jpg"].box == (1.5, 2.5, 40.25, 60.75) and np.array_equal(back["a/1.jpg"].points, points)
    assert back["a/1.jpg"].min_side == pytest.approx(38.75) and back["b.jpg"].confidence == 0

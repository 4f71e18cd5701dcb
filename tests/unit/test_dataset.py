from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image

from server.model.spec import ModelSpec
from training.augment import DeepfakeAugment
from training.dataset import FaceCrops, discover, random_group_split, select, subsample


def _folder_dataset(root: Path, fake_folder: str) -> Path:
    for folder, n in (("real", 3), (fake_folder, 2)):
        (root / folder).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(root / folder / f"{i}.jpg")
    (root / "real" / "notes.txt").write_text("not an image")
    return root


@pytest.mark.parametrize("fake_folder", ["deepfake", "fake"])
def test_folder_layout_of_the_original_app(tmp_path: Path, fake_folder: str) -> None:
    samples = discover(_folder_dataset(tmp_path, fake_folder))
    assert [s.label for s in samples] == [0, 0, 0, 1, 1]


def test_empty_or_missing_folders_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        discover(tmp_path / "nope")
    with pytest.raises(ValueError, match="real/ and deepfake/"):
        discover(tmp_path)


def test_manifest_split_is_identity_disjoint(dfdc_dir: Path) -> None:
    samples = discover(dfdc_dir)
    train, val = select(samples, "train"), select(samples, "val")
    assert len(train) + len(val) == len(samples) > 20000
    assert not {s.group for s in train} & {s.group for s in val}
    with pytest.raises(ValueError, match="splits here: train, val"):
        select(samples, "test")


def test_random_group_split_keeps_groups_together(tiny_dataset: Path) -> None:
    samples = discover(tiny_dataset)
    train, val = random_group_split(samples, 0.3, seed=1)
    assert train and val
    assert not {s.group for s in train} & {s.group for s in val}
    assert random_group_split(samples, 0.3, seed=1) == (train, val)


def test_subsample_is_seeded_and_stratified(tiny_dataset: Path) -> None:
    samples = discover(tiny_dataset)
    a = subsample(samples, 10, seed=3)
    assert a == subsample(samples, 10, seed=3)
    assert {s.label for s in a} == {0, 1}


def test_dataset_yields_input_sized_uint8(tiny_dataset: Path) -> None:
    spec = ModelSpec(architecture="efficientnet_lite0", input_size=96, mean=(0.5,) * 3, std=(0.5,) * 3)
    crops = FaceCrops(discover(tiny_dataset), spec, augment=DeepfakeAugment(), seed=1)
    image, label = crops[0]
    assert image.shape == (3, 96, 96) and str(image.dtype) == "torch.uint8" and label in (0, 1)
    again, _ = crops[0]
    assert (image == again).all(), "augmentation must be reproducible for a given seed, epoch and index"
    crops.epoch = 1
    other, _ = crops[0]
    assert not (image == other).all(), "a new epoch should draw new augmentations"


def test_augment_keeps_size_and_mode(dfdc_dir: Path) -> None:
    image = Image.open(next((dfdc_dir / "real").iterdir())).convert("RGB")
    for seed in range(20):
        out = DeepfakeAugment()(image, random.Random(seed))
        assert out.size == image.size and out.mode == "RGB"

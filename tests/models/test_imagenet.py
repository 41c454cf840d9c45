"""torchvision ImageNet networks: shapes, parameter counts, errors and local weight loading."""

import pytest
import torch
from torch import nn

from prunelab.models import torchvision_model


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("arch", "expected"), [("resnet18", 11_689_512), ("resnet50", 25_557_032)])
def test_resnet_parameter_counts_and_forward(arch, expected):
    model = torchvision_model(arch).eval()
    assert n_params(model) == expected  # torchvision's published counts, 1000 classes
    with torch.no_grad():  # 64 px is enough: the global pool accepts any size
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 1000)


def test_vgg16_bn_parameter_count_and_forward():
    # The one slow build (~2 s, a 102M-parameter classifier); 32 px keeps the forward quick.
    model = torchvision_model("vgg16_bn", num_classes=10).eval()
    assert n_params(model) == 138_365_992 - 990 * (4096 + 1)
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_num_classes_sets_the_head():
    assert torchvision_model("resnet18", num_classes=100).fc.out_features == 100


def test_unknown_arch_raises():
    with pytest.raises(ValueError, match=r"'resnet18', 'resnet50', 'vgg16_bn'"):
        torchvision_model("resnet20")


def test_missing_weights_file_raises(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        torchvision_model("resnet18", weights=path)


def test_weights_round_trip(tmp_path):
    source = torchvision_model("resnet18", num_classes=10)
    path = tmp_path / "r18.pth"
    torch.save(source.state_dict(), path)
    loaded = torchvision_model("resnet18", num_classes=10, weights=str(path))
    for (name, a), b in zip(source.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_weights_with_other_num_classes_keep_the_backbone(tmp_path):
    source = torchvision_model("resnet18", num_classes=1000)
    path = tmp_path / "r18.pth"
    torch.save(source.state_dict(), path)
    with pytest.warns(UserWarning, match="1000 classes"):
        loaded = torchvision_model("resnet18", num_classes=10, weights=path)
    assert loaded.fc.weight.shape == (10, 512)
    expected = source.state_dict()
    for name, tensor in loaded.state_dict().items():
        if not name.startswith("fc."):
            assert torch.equal(tensor, expected[name]), name


def test_wrapped_and_dataparallel_state_dicts_load(tmp_path):
    source = torchvision_model("resnet18", num_classes=10)
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    loaded = torchvision_model("resnet18", num_classes=10, weights=path)
    assert torch.equal(loaded.conv1.weight, source.conv1.weight)


def test_mismatched_backbone_raises(tmp_path):
    state = torchvision_model("resnet18", num_classes=10).state_dict()
    del state["layer1.0.conv1.weight"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(RuntimeError, match="layer1.0.conv1.weight"):
        torchvision_model("resnet18", num_classes=10, weights=path)
    with pytest.raises(RuntimeError), pytest.warns(UserWarning):
        torchvision_model("resnet18", num_classes=5, weights=path)

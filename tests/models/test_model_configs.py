"""conf/model/*.yaml: one config per model name, each instantiating the model it names."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from prunelab.models import (
    MODEL_NAMES,
    CifarResNet,
    CifarVGG,
    is_imagenet_model,
)
from prunelab.network import build_network

CONF = Path(__file__).resolve().parents[2] / "conf" / "model"


def load(name: str, num_classes: int):
    # The model group sits next to a `data` group that supplies num_classes.
    cfg = OmegaConf.create({"data": {"num_classes": num_classes}})
    cfg.model = OmegaConf.load(CONF / f"{name}.yaml")
    return cfg.model


def test_one_config_per_model_name():
    assert sorted(p.stem for p in CONF.glob("*.yaml")) == sorted(MODEL_NAMES)
    assert len(set(MODEL_NAMES)) == len(MODEL_NAMES) == 13


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_config_is_target_plus_plain_values(name):
    raw = OmegaConf.load(CONF / f"{name}.yaml")
    assert raw._target_.startswith("prunelab.models.")
    assert OmegaConf.to_container(raw)["num_classes"] == "${data.num_classes}"
    assert all(isinstance(v, (str, int, type(None))) for v in OmegaConf.to_container(raw).values())
    assert raw.init_from is None  # handled by build_network, not passed to the constructor


# vgg16_bn is left out here only because its 138M-parameter build is slow; its config is checked
# above and the model itself in test_imagenet.py.
@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "vgg16_bn"])
def test_config_instantiates(name):
    model = build_network(load(name, num_classes=7))
    head = model.fc
    assert head.out_features == 7
    if name.startswith("resnet") and not is_imagenet_model(name):
        assert isinstance(model, CifarResNet) and model.depth == int(name[6:])
        assert model.shortcut_type == "B"  # OpenLTH's default
    if name.startswith("vgg"):
        assert isinstance(model, CifarVGG) and model.depth == int(name[3:])


def test_is_imagenet_model():
    assert [n for n in MODEL_NAMES if is_imagenet_model(n)] == [
        "resnet18", "resnet50", "vgg16_bn", "timm", "torchvision",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="resnet20"):
        is_imagenet_model("alexnet")

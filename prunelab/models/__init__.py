"""Model zoo: CIFAR ResNets and VGGs (OpenLTH style) and torchvision's ImageNet networks.

Each name in `MODEL_NAMES` has a Hydra config `conf/model/<name>.yaml`.
"""

from prunelab.models.cifar_resnet import (
    CifarResNet,
    openlth_init_,
    resnet20,
    resnet32,
    resnet56,
    resnet110,
)
from prunelab.models.cifar_vgg import CifarVGG, vgg11, vgg13, vgg16, vgg19
from prunelab.models.imagenet import ARCHS, torchvision_model

CIFAR_MODEL_NAMES = (
    "resnet20", "resnet32", "resnet56", "resnet110", "vgg11", "vgg13", "vgg16", "vgg19",
)  # fmt: skip
IMAGENET_MODEL_NAMES = tuple(ARCHS)  # resnet18, resnet50, vgg16_bn
MODEL_NAMES = CIFAR_MODEL_NAMES + IMAGENET_MODEL_NAMES


def is_imagenet_model(name: str) -> bool:
    """Whether a model config name is an ImageNet (torchvision) network rather than a CIFAR one.

    Args:
        name: a config name from `MODEL_NAMES`, e.g. "resnet20" or "resnet50".

    Raises:
        ValueError: a name that is not in `MODEL_NAMES`.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model name {name!r}; valid names: {MODEL_NAMES}")
    return name in IMAGENET_MODEL_NAMES


__all__ = [
    "CIFAR_MODEL_NAMES",
    "IMAGENET_MODEL_NAMES",
    "MODEL_NAMES",
    "CifarResNet",
    "CifarVGG",
    "is_imagenet_model",
    "openlth_init_",
    "resnet20",
    "resnet32",
    "resnet56",
    "resnet110",
    "torchvision_model",
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg19",
]

"""Model zoo: CIFAR ResNets and VGGs (OpenLTH style), and ImageNet networks: any torchvision
classifier (`model=torchvision model.arch=NAME`, with resnet18, resnet50 and vgg16_bn also as
configs of their own) and any timm one (`model=timm model.arch=NAME`, an optional extra).

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
from prunelab.models.cifar_vgg import CifarVGG, granet_init_, vgg11, vgg13, vgg16, vgg19
from prunelab.models.imagenet import ARCHS, classifier_archs, torchvision_model
from prunelab.models.timm_models import timm_model

CIFAR_MODEL_NAMES = (
    "resnet20", "resnet32", "resnet56", "resnet110", "vgg11", "vgg13", "vgg16", "vgg19",
)  # fmt: skip
IMAGENET_MODEL_NAMES = tuple(ARCHS)  # resnet18, resnet50, vgg16_bn
# Configs that build any network of a library, named by `model.arch` (ImageNet definitions too).
ANY_ARCH_MODEL_NAMES = ("timm", "torchvision")
MODEL_NAMES = CIFAR_MODEL_NAMES + IMAGENET_MODEL_NAMES + ANY_ARCH_MODEL_NAMES


def is_imagenet_model(name: str) -> bool:
    """Whether a model config name is an ImageNet (torchvision, timm) network rather than a CIFAR
    one: `model=torchvision` and `model=timm` are, whatever their arch.

    Args:
        name: a config name from `MODEL_NAMES`, e.g. "resnet20", "resnet50" or "torchvision".

    Raises:
        ValueError: a name that is not in `MODEL_NAMES`.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model name {name!r}; valid names: {MODEL_NAMES}")
    return name in IMAGENET_MODEL_NAMES + ANY_ARCH_MODEL_NAMES


__all__ = [
    "ANY_ARCH_MODEL_NAMES",
    "CIFAR_MODEL_NAMES",
    "IMAGENET_MODEL_NAMES",
    "MODEL_NAMES",
    "CifarResNet",
    "CifarVGG",
    "classifier_archs",
    "granet_init_",
    "is_imagenet_model",
    "openlth_init_",
    "resnet20",
    "resnet32",
    "resnet56",
    "resnet110",
    "timm_model",
    "torchvision_model",
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg19",
]

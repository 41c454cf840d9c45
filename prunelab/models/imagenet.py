"""Every torchvision classifier by name, with torchvision's own definition and initialisation.

`weights` is a local state_dict file, or the name of one of torchvision's releases for the arch
(`IMAGENET1K_V1`, `ResNet50_Weights.IMAGENET1K_V2`, `DEFAULT`). A name is checked against the
arch's releases before anything is fetched; the file is then downloaded once, hash checked, into
torch's hub cache (`$TORCH_HOME/hub/checkpoints`, where torchvision keeps it too) and read like
any local file: by `prunelab.loading`, tensors only. (torchvision's own loader,
`WeightsEnum.get_state_dict`, unpickles with `weights_only=False`, so it is not used.)
"""

from __future__ import annotations

import importlib
import os
import re
import socket
import warnings
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from prunelab.loading import load_state_dict, local_file
from prunelab.models.zoo import check_input_size, load_backbone, unknown_arch

# The archs with a config of their own (model=resnet50); any other one is model=torchvision.
ARCHS = ("resnet18", "resnet50", "vgg16_bn")
# Arch prefix -> the builder argument that fixes the input size (a ViT's position embeddings).
SIZED = {"vit_": "image_size", "maxvit_": "input_size"}
# Auxiliary classifiers, left out: training returns plain logits; released files' copies dropped.
AUX = {"googlenet": ("aux1.", "aux2."), "inception_v3": ("AuxLogits.",)}
# `IMAGENET1K_V1` or `ResNet50_Weights.IMAGENET1K_V1`: a release name, not a file name.
RELEASE = re.compile(r"^(?:(\w+)\.)?([A-Z][A-Z0-9_]*)$")
# DenseNet releases predate dots being banned in module names: `norm.1` is now `norm1`.
DENSE_LAYER = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.\w+)$")
DOWNLOAD_TIMEOUT_S = 60  # a network that drops packets is refused, not waited on forever


def _models():
    # Imported on use: torchvision.models costs ~1.5 s of import time that CIFAR runs never need.
    return importlib.import_module("torchvision.models")


@cache
def classifier_archs() -> tuple[str, ...]:
    """`torchvision.models.list_models(module=torchvision.models)`: the image classifiers only
    (detection, segmentation, video and quantized networks live in submodules)."""
    return tuple(_models().list_models(module=_models()))


def _release(arch: str, name: str):
    """The torchvision weights enum member `name` of `arch` (validated; nothing downloaded)."""
    enums = _models().get_model_weights(arch)
    prefix, member = RELEASE.match(name).groups()
    if (prefix is not None and prefix != enums.__name__) or member not in enums.__members__:
        raise ValueError(
            f"model.weights={name} is not a torchvision release of {arch}; valid: "
            f"{', '.join(enums.__members__)} (or {enums.__name__}.NAME), or a local file path"
        )
    return enums[member]  # DEFAULT is an alias of the recommended release


def _label(release) -> str:
    return f"{type(release).__name__}.{release.name}"


def _fetch(release) -> Path:
    """The release's file in torch's hub cache, downloaded (hash checked) when not there yet."""
    url = release.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
    if path.is_file():  # downloaded before, by prunelab or by torchvision
        return path
    digest = torch.hub.HASH_REGEX.search(path.name)  # torchvision's check_hash: the name's suffix
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:  # to a temporary file, renamed when complete: an interrupted download leaves nothing
        torch.hub.download_url_to_file(url, str(path), digest and digest.group(1), progress=True)
    # No network, a proxy, an HTTP error or a bad hash: to the user each means the same thing.
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(
            f"model.weights={_label(release)}: cannot download {url} ({reason}); without network "
            "access, download that file elsewhere and pass its local path: model.weights=PATH"
        ) from exc
    finally:
        socket.setdefaulttimeout(previous)
    return path


def _build_args(arch: str, release, image_size: int | None) -> dict[str, Any]:
    """Constructor arguments besides num_classes. Given `image_size` (as the configs always
    give it), they are the same with or without weights: an evaluation rebuilds the network
    without them, and must get the network that was trained."""
    args: dict[str, Any] = {}
    if arch in AUX:  # transform_input: the released weights expect it; a fixed affine map anyway
        args.update(aux_logits=False, init_weights=True, transform_input=True)
    prefix = next((p for p in SIZED if arch.startswith(p)), None)
    if prefix is None:
        return args
    native = release.meta["min_size"][0] if release is not None else None
    if native and image_size and image_size != native:
        raise ValueError(
            f"model.weights={_label(release)} is for {native} px images, the data's are "
            f"{image_size} px: set data.image_size={native}, or train {arch} without weights"
        )
    side = image_size or native
    if side:
        args[SIZED[prefix]] = side if prefix == "vit_" else (side, side)
    return args


def torchvision_model(
    arch: str | None,
    num_classes: int = 1000,
    weights: str | os.PathLike | None = None,
    image_size: int | None = None,
) -> nn.Module:
    """Build a torchvision classifier, with torchvision's own initialisation.

    Args:
        arch: any name of `torchvision.models.list_models(module=torchvision.models)`.
        num_classes: size of the classifier output.
        weights: a local state_dict file (e.g. torchvision's released `resnet50-*.pth`), or a
            release name of the arch (`IMAGENET1K_V1`, `ResNet50_Weights.IMAGENET1K_V2`,
            `DEFAULT`), downloaded once. When its classifier has another number of classes than
            `num_classes`, everything but the classifier is loaded, with a warning.
        image_size: the side of the input images, px (None: not checked). It sizes the networks
            whose layers depend on it (ViT, MaxViT), and the network is tried on one such image.

    Returns:
        The network, on the CPU (or on the default device of a `torch.device` context).

    Raises:
        ValueError: an unknown arch or release name, a failed download, images the network
            cannot take, or a file that is not a state_dict.
        FileNotFoundError: `weights` names no file.
        RuntimeError: the file's tensors do not fit the architecture (also a ValueError).
    """
    if arch not in classifier_archs():
        rest = sorted(set(classifier_archs()) - set(ARCHS))
        listed = (
            f"{', '.join(map(repr, ARCHS))} (configs of their own: model=NAME) and every other "
            f"classifier of torchvision.models.list_models(): {', '.join(rest)}"
        )
        raise unknown_arch("torchvision", arch, classifier_archs(), listed)
    text = None if weights is None else str(weights)
    on_disk = text is not None and Path(text).expanduser().is_file()  # a file wins over a name
    release = _release(arch, text) if text and not on_disk and RELEASE.match(text) else None
    if text is not None and release is None:  # a missing file or a URL: refused before the build
        local_file(text, "model.weights")
    try:
        model = _models().get_model(
            arch, weights=None, num_classes=num_classes, **_build_args(arch, release, image_size)
        )
    except (ValueError, AssertionError) as exc:  # e.g. a ViT whose patches do not tile the image
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(
            f"torchvision {arch} cannot be built for {image_size} px images: {reason}"
        ) from exc
    if image_size is not None:  # before any download: a network that cannot run needs no weights
        check_input_size(model, image_size, f"torchvision {arch}")
    if text is None:
        return model

    path, source = (_fetch(release), _label(release)) if release else (text, text)
    # The one loader: a local file, tensors only; {"state_dict": ...} and `module.` unwrapped.
    state = load_state_dict(path, "model.weights")
    if arch.startswith("densenet"):
        state = {DENSE_LAYER.sub(r"\1\2", k): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(AUX.get(arch, ()))}
    fresh = ()
    if release is not None and release.meta.get("categories") is None:
        fresh = ("classifier.",)  # a features-only release (vgg16's): its classifier is not valid
        warnings.warn(f"{source} has no valid classifier; it keeps its fresh init", stacklevel=2)
    load_backbone(model, state, num_classes, f"model.weights={source}", fresh)
    return model

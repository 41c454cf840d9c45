"""ImageNet networks from torchvision's definitions, optionally loaded from a local state_dict.

Nothing is ever downloaded: `weights` is a path to a file on disk, never a torchvision weights enum.
"""

from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path

from torch import nn

from prunelab.loading import load_state_dict

# arch (a torchvision.models constructor) -> its classifier layer, the one num_classes resizes.
ARCHS: dict[str, str] = {"resnet18": "fc", "resnet50": "fc", "vgg16_bn": "classifier.6"}


def torchvision_model(
    arch: str, num_classes: int = 1000, weights: str | os.PathLike | None = None
) -> nn.Module:
    """Build a torchvision ImageNet network, with torchvision's own initialisation.

    Args:
        arch: one of "resnet18", "resnet50", "vgg16_bn".
        num_classes: size of the classifier output.
        weights: optional path to a local state_dict file (e.g. torchvision's released
            `resnet50-*.pth`, copied by hand). When its classifier has a different number of
            classes than `num_classes`, everything except the classifier is loaded, with a warning.

    Returns:
        The network, on the CPU.

    Raises:
        ValueError: unknown arch, or a file that is not a state_dict.
        FileNotFoundError: `weights` names no file.
        RuntimeError: the file's backbone does not match the architecture.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown torchvision arch {arch!r}; valid choices: {tuple(ARCHS)}")
    # Imported here: torchvision.models costs ~1.5 s of import time that CIFAR runs never need.
    build = getattr(importlib.import_module("torchvision.models"), arch)
    head = ARCHS[arch]
    model = build(weights=None, num_classes=num_classes)
    if weights is None:
        return model

    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    # The one loader: a local file, tensors only; {"state_dict": ...} and `module.` unwrapped.
    state = load_state_dict(path, "model.weights")
    head_keys = {f"{head}.weight", f"{head}.bias"}
    file_head = state.get(f"{head}.weight")
    if file_head is not None and file_head.shape[0] != num_classes:
        warnings.warn(
            f"{path}: classifier `{head}` has {file_head.shape[0]} classes, the model "
            f"{num_classes}; loading everything but the classifier, which keeps its fresh init",
            stacklevel=2,
        )
        state = {k: v for k, v in state.items() if k not in head_keys}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or set(missing) - head_keys:
            raise RuntimeError(
                f"{path} does not match {arch}: missing {sorted(set(missing) - head_keys)}, "
                f"unexpected {sorted(unexpected)}"
            )
    else:
        model.load_state_dict(state)  # strict: a partial file is an error, not a silent init
    return model

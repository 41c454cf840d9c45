"""Any timm classifier by name (`pip install 'prunelab[timm]'`), with timm's own initialisation.

Weights come from a local state_dict file only, read by `prunelab.loading` (tensors only). timm's
hub downloads are not used: they need the network, and timm reads them with its own loaders. To
start from timm's pretrained weights, save them once where the network is reachable,
`torch.save(timm.create_model(NAME, pretrained=True).state_dict(), "NAME.pth")`, then pass
`model.weights=NAME.pth`.
"""

from __future__ import annotations

import importlib
import os

from torch import nn

from prunelab.loading import MissingFileError, load_state_dict, local_file
from prunelab.models.zoo import check_input_size, load_backbone, unknown_arch

INSTALL = "pip install 'prunelab[timm]'"


def _timm():
    """The timm module; its absence is refused in one line saying how to install it."""
    try:
        return importlib.import_module("timm")
    except ImportError as exc:
        raise ValueError(f"model=timm needs the timm package, not installed: {INSTALL}") from exc


def timm_model(
    arch: str | None,
    num_classes: int = 1000,
    weights: str | os.PathLike | None = None,
    image_size: int | None = None,
) -> nn.Module:
    """Build a timm classifier: `timm.create_model(arch, pretrained=False, num_classes=...)`.

    Args:
        arch: any name of `timm.list_models()` (a pretrained tag, `resnet50.a1_in1k`, is allowed;
            it chooses nothing here, as no weights are downloaded).
        num_classes: size of the classifier output.
        weights: a local state_dict file. When its classifier has another number of classes than
            `num_classes`, everything but the classifier is loaded, with a warning.
        image_size: the side of the input images, px (None: not checked); the network is tried
            on one such image, so one that cannot take it is refused before any compute.

    Returns:
        The network, on the CPU (or on the default device of a `torch.device` context).

    Raises:
        ValueError: timm not installed, an unknown arch, images the network cannot take, or a
            file that is not a state_dict.
        FileNotFoundError: `weights` names no file.
        RuntimeError: the file's tensors do not fit the architecture (also a ValueError).
    """
    timm = _timm()
    if not isinstance(arch, str) or not timm.is_model(arch):
        names = timm.list_models()
        listed = f"the {len(names)} names of timm.list_models()"
        raise unknown_arch("timm", arch, names, listed)
    if weights is not None:  # a missing file is refused before the build
        try:
            local_file(weights, "model.weights")
        except MissingFileError as exc:
            raise MissingFileError(
                f"{exc} (timm's hub weights are not downloaded: save "
                f"timm.create_model({arch!r}, pretrained=True).state_dict() with torch.save "
                "where the network is reachable, then pass that file)"
            ) from exc
    model = timm.create_model(arch, pretrained=False, num_classes=num_classes)
    if image_size is not None:
        check_input_size(model, image_size, f"timm {arch}")
    if weights is not None:
        state = load_state_dict(weights, "model.weights")  # the one loader: tensors only
        load_backbone(model, state, num_classes, f"model.weights={weights}")
    return model

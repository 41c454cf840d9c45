"""Short names of a run's model and data, for figure titles and report groups.

Read from a run config (the resolved one a `Classifier` holds as `run_config`, or the one
Hydra saved beside a run): `CifarResNet-20`, `resnet18` (torchvision/timm `arch`), `cifar10`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prunelab.plotting.style import title

if TYPE_CHECKING:  # the report reads run configs without loading Lightning
    import pytorch_lightning as pl


def _short(target: Any) -> str | None:
    return str(target).rsplit(".", 1)[-1] if target else None


def model_name(config: Mapping[str, Any]) -> str | None:
    """`arch` (torchvision, timm), else the class with its depth (`CifarResNet-20`); None if the
    config has no model."""
    model = config.get("model")
    if not isinstance(model, Mapping):
        return None
    if model.get("arch"):
        return str(model["arch"])
    name = _short(model.get("_target_"))
    depth = model.get("depth")
    return f"{name}-{depth}" if name and isinstance(depth, int) else name


def data_name(config: Mapping[str, Any]) -> str | None:
    """`dataset` (`cifar10`), else the data module's class without `DataModule`; None if none."""
    data = config.get("data")
    if not isinstance(data, Mapping):
        return None
    if data.get("dataset"):
        return str(data["dataset"])
    name = _short(data.get("_target_"))
    return name.removesuffix("DataModule") if name else None


def run_title(pl_module: pl.LightningModule, method: str) -> str:
    """`method on model / data` for a prunelab `Classifier`; the method alone for a user's
    own LightningModule, whose model and data prunelab does not know."""
    from prunelab.module import Classifier  # here: prunelab.module imports the callbacks

    config = pl_module.run_config if isinstance(pl_module, Classifier) else {}
    return title(method, model_name(config), data_name(config))

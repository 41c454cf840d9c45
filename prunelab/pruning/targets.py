"""Which parameters may be pruned: conv and linear weights, minus those excluded by name glob."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from torch import nn

from prunelab.errors import ConfigError

# Only these layers carry prunable weights (ALGORITHMS.md section 0): BatchNorm parameters and
# biases are never pruned, whatever the exclusions say.
PRUNABLE_MODULES = (nn.Conv2d, nn.Linear)


def prunable_parameters(model: nn.Module, exclude: Sequence[str] = ()) -> dict[str, nn.Parameter]:
    """The prunable tensors of a model: the `weight` of every `Conv2d` and `Linear`.

    Args:
        model: the network.
        exclude: fnmatch globs (case-sensitive) matched against the parameter name, e.g.
            `"fc.weight"`, `"conv1.*"`, `"*.shortcut.*"`. A matching parameter is left out.

    Returns:
        Parameter name -> parameter, in `model.named_parameters()` order.

    Raises:
        ConfigError: a glob matches no prunable parameter (almost always a typo, which would
            otherwise silently prune a layer that was meant to stay dense). The message lists
            the prunable names.
    """
    if isinstance(exclude, str):  # a bare string would be read as one glob per character
        exclude = [exclude]
    weight_names = {
        f"{name}.weight" if name else "weight"
        for name, module in model.named_modules()
        if isinstance(module, PRUNABLE_MODULES)
    }
    candidates = {n: p for n, p in model.named_parameters() if n in weight_names}
    for glob in exclude:
        if not any(fnmatchcase(name, glob) for name in candidates):
            raise ConfigError(
                f"exclude glob {glob!r} matches no prunable parameter; "
                f"prunable parameters are: {', '.join(candidates) or '(none)'}"
            )
    return {
        name: p
        for name, p in candidates.items()
        if not any(fnmatchcase(name, glob) for glob in exclude)
    }

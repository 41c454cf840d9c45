"""Which parameters may be pruned: conv and linear weights, minus those excluded by name glob.

Names are those of `root.named_parameters()`: in a user's LightningModule `net.features.0.weight`
for `self.net`; in prunelab's own Classifier the root is its network, so `fc.weight`. Grouped and
depthwise convolutions (MobileNet, ResNeXt) are Conv2d layers like any other: their weights
(out, in / groups, k, k) are pruned entry by entry, on the same footing.
"""

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


# What a user may name as the weights to prune: a parameter-name glob, a module (all its conv and
# linear weights), or Lightning ModelPruning's (module, "weight") pair.
Target = str | nn.Module | tuple[nn.Module, str]


def _named(root: nn.Module, target: Target, candidates: dict[str, nn.Parameter]) -> list[str]:
    """The candidate names one target picks out; refused when it picks none."""
    if isinstance(target, str):
        names = [n for n in candidates if fnmatchcase(n, target)]
        what = f"glob {target!r}"
    else:
        module, attr = target if isinstance(target, tuple) else (target, None)
        ids = {id(p) for n, p in module.named_parameters() if attr is None or n == attr}
        names = [n for n, p in candidates.items() if id(p) in ids]
        what = f"module {type(module).__name__}" + (f" parameter {attr!r}" if attr else "")
    if not names:
        raise ConfigError(
            f"parameters_to_prune {what} selects no conv or linear weight of "
            f"{type(root).__name__}; they are: {', '.join(candidates) or '(none)'}"
        )
    return names


def select_targets(
    root: nn.Module,
    parameters_to_prune: Sequence[Target] | None = None,
    exclude: Sequence[str] = (),
) -> dict[str, nn.Parameter]:
    """The weights a method prunes: `parameters_to_prune` (default: every conv/linear weight of
    `root`), minus `exclude` globs, in `root.named_parameters()` order.

    Raises:
        ConfigError: a target or an exclude glob that selects nothing (a typo, which would
            otherwise silently prune the wrong layers); the message lists the valid names.
    """
    candidates = prunable_parameters(root, exclude)
    if parameters_to_prune is None:
        return candidates
    single_pair = (
        isinstance(parameters_to_prune, tuple)
        and len(parameters_to_prune) == 2
        and isinstance(parameters_to_prune[0], nn.Module)
    )
    if isinstance(parameters_to_prune, (str, nn.Module)) or single_pair:
        parameters_to_prune = [parameters_to_prune]
    chosen = {n for t in parameters_to_prune for n in _named(root, t, prunable_parameters(root))}
    return {n: p for n, p in candidates.items() if n in chosen}

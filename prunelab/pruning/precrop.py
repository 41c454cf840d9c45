"""PreCropping (Cai et al. 2022): from per-layer densities to a channel plan that meets a budget.

Our interpretation of ALGORITHMS.md section 5 (there is no official code):
1. densities p_l from a source (`prunelab.pruning.layer_densities`) at the target density;
2. each channel group keeps a ratio a_g = p_g ** exponent of its channels (exponent 0.5: the
   sqrt rule, since a conv keeps about a_l * a_(l-1) of its weights), where p_g is the
   weight-averaged density of the group's output layers (layers added in one residual stream
   share one count); at least one channel (or one `multiple` of channels); the classifier's
   outputs are never cut;
3. the densities are rescaled by one common factor t (p_l -> min(1, t p_l)), found by bisection,
   so that the narrow network's prunable weights (or MACs) land closest to the budget: the sqrt
   rule alone misses it, because the image channels and the class outputs stay fixed and coupled
   layers share a ratio.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from prunelab.pruning.channels import (
    PLAN_KEY,
    Structure,
    apply_plan,
    network_structure,
    plan_from_checkpoint,
)
from prunelab.pruning.erk import erk_densities
from prunelab.pruning.layer_densities import (
    SOURCES,
    convex_densities,
    snip_densities,
    snip_scores,
    synflow_densities,
    uniform_densities,
)
from prunelab.pruning.precrop_counts import BUDGETS, fit_counts, full_counts, make_plan, plan_cost

# The public face of PreCropping (loaders need PLAN_KEY, plan_from_checkpoint and apply_plan).
__all__ = [
    "BUDGETS",
    "PLAN_KEY",
    "SOURCES",
    "apply_plan",
    "fit_counts",
    "make_plan",
    "plan_from_checkpoint",
    "precrop_plan",
    "reinit_",
    "source_densities",
]


def source_densities(
    source: str,
    network: nn.Module,
    structure: Structure,
    density: float,
    budget: str = "params",
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]] = (),
    iterations: int = 100,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Per-layer densities (by module name) of `source` at `density` (step 1).

    `batches` feed SNIP; `iterations` are SynFlow's rounds; `convex` uses MACs as its cost
    under a MAC budget, the other sources always work on weights.
    """
    names = list(structure.weights)
    weight = {n: f"{n}.weight" for n in names}
    if source == "uniform":
        return uniform_densities(structure.weights, density)
    if source == "erk":
        shapes = {n: tuple(network.get_submodule(n).weight.shape) for n in names}
        return erk_densities(shapes, density)
    if source == "convex":
        positions = structure.positions if budget == "macs" else dict.fromkeys(names, 1)
        return convex_densities({n: structure.weights[n] * positions[n] for n in names}, density)
    if source == "snip":
        batches = list(batches)
        if not batches:
            raise ValueError("the snip source needs at least one batch of training data")
        scores = snip_scores(network, weight.values(), batches, device)
        by_param = snip_densities(scores, density)
    elif source == "synflow":
        by_param = synflow_densities(
            network, structure.input_shape, weight.values(), density, iterations, device
        )
    else:
        raise ValueError(f"density source {source!r} is not one of {SOURCES}")
    return {n: by_param[weight[n]] for n in names}


def precrop_plan(
    network: nn.Module,
    input_shape: Sequence[int],
    density: float,
    source: str = "snip",
    budget: str = "params",
    exponent: float = 0.5,
    multiple: int = 1,
    **source_args: Any,
) -> dict[str, Any]:
    """The channel plan of PreCropping for a full-width network (see the module docstring).

    Args:
        network: the full-width network at initialization (not modified).
        input_shape: one input, e.g. (3, 32, 32); MACs are counted at this size.
        density: the budget, a fraction of the prunable weights (or of their MACs) kept.
        source, budget, exponent, multiple: see `source_densities` and `fit_counts`.
        source_args: `batches`, `iterations`, `device` for `source_densities`.

    Returns:
        A plan for `prunelab.pruning.channels.apply_plan`, with the settings and the budget
        reached (`achieved`, a fraction like `density`) and both the kept fraction of the prunable
        weights (`params_kept`) and of their MACs (`macs_kept`) recorded alongside.
    """
    structure = network_structure(network, input_shape)
    densities = source_densities(source, network, structure, density, budget, **source_args)
    counts = fit_counts(structure, densities, density, budget, exponent, multiple)
    full = full_counts(structure)
    kept = {b: plan_cost(structure, counts, b) / plan_cost(structure, full, b) for b in BUDGETS}
    return make_plan(
        structure,
        counts,
        source=source,
        density=float(density),
        budget=budget,
        exponent=float(exponent),
        multiple=multiple,
        achieved=kept[budget],
        params_kept=kept["params"],
        macs_kept=kept["macs"],
    )


@torch.no_grad()
def reinit_(network: nn.Module) -> nn.Module:
    """Initialise a (cropped) network afresh, the way its family initialises itself, in place.

    CIFAR ResNets/VGGs: OpenLTH's init; torchvision ResNets/VGGs: torchvision's (kaiming-normal
    fan-out convs, BN 1/0; VGG linears N(0, 0.01)); anything else: each module's
    `reset_parameters`. So a narrow conv gets the init scale of its narrow fan-in/fan-out.
    """
    from prunelab.models import CifarResNet, CifarVGG, openlth_init_

    if isinstance(network, (CifarResNet, CifarVGG)):
        openlth_init_(network)
    else:
        from torchvision.models import VGG, ResNet

        known = isinstance(network, (ResNet, VGG))
        for m in network.modules():
            if hasattr(m, "reset_parameters") and m is not network:
                m.reset_parameters()
            if known and isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(network, VGG) and isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
    for m in network.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
    return network

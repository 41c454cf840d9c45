"""The instability analysis of one start state: two copies trained on two data orders (same
masks), the test error along the line between them, its barrier and the L2 distances.

The one procedure behind both `prunelab-stability` (a checkpoint, or an IMP level read back from
a finished run) and `pruning.stability=true` (each IMP level at its rewind point, during the
run). It trains copies of `network`, never `network` itself, and leaves the data module's seed
as it found it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from prunelab.pruning.masks import sparsity
from prunelab.stability.copies import SEEDED_DATA, Length, Resume, train_copy
from prunelab.stability.errors_along import error_path, images_of, test_error
from prunelab.stability.path import alphas, barrier, l2_distance

State = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class Options:
    """How the analysis runs (the defaults are `conf/stability.yaml`'s).

    Args:
        length: how long each copy trains.
        seeds: the two copies' data-order and augmentation seeds (equal: identical copies).
        points: points on the path, both copies included.
        bn: BatchNorm statistics on the path: `keep` or `recompute` (see `batchnorm`).
        bn_batches: training batches for `bn=recompute`.
        test_batches: test on the first N batches only; None = the whole test split.
        resume: the run's schedule and the step the copies start it at; None = a fresh one.
    """

    length: Length
    seeds: Sequence[int] = (1, 2)
    points: int = 11
    bn: str = "keep"
    bn_batches: int = 10
    test_batches: int | None = None
    resume: Resume | None = None


def distances(names: Sequence[str], start: State, a: State, b: State, dense: State | None):
    """L2 distances over the parameters `names`: between the copies, from each to the start and,
    given the dense network's weights, from each to those."""
    found = {
        "copies": l2_distance(a, b, names),
        "a_to_start": l2_distance(a, start, names),
        "b_to_start": l2_distance(b, start, names),
    }
    if dense is not None:
        found["a_to_dense"] = l2_distance(a, dense, names)
        found["b_to_dense"] = l2_distance(b, dense, names)
    return found


def analyse(
    network: nn.Module,
    masks: Mapping[str, torch.Tensor],
    datamodule: pl.LightningDataModule,
    run: Mapping[str, Any],
    options: Options,
    *,
    dense: State | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Analyse `network`'s current state (pruned weights 0 under `masks`).

    Args:
        network: the start state; left as it is (the path is measured on a copy on `device`).
        run: the run's resolved config (data, optim, sched, trainer), as a checkpoint stores it.
        dense: the dense network's weights, for the distances to them.

    Returns:
        `barrier`, `alphas`, `errors` (test error at each point), `copy_errors` (each copy as
        trained), `distance`, `seeds`, `steps`, `epochs`, `bn`, `sparsity`; `lr_step` (the step
        the copies' schedule started at) when it resumed one.
    """
    start = {k: v.detach().clone() for k, v in network.state_dict().items()}
    seed = datamodule.seed if isinstance(datamodule, SEEDED_DATA) else None  # else: refused
    length, points = options.length, alphas(options.points)
    try:
        a, b = (
            train_copy(network, masks, datamodule, run, s, length, options.resume)
            for s in options.seeds
        )
        datamodule.seed = seed  # BN batches: the run's own order, both copies
        probe = copy.deepcopy(network).to(device)
        bn_images = []
        if options.bn == "recompute":
            bn_images = images_of(datamodule.train_dataloader(), options.bn_batches)
        errors = error_path(
            probe, a, b, points, datamodule.test_dataloader,
            masks=masks, bn=options.bn, bn_images=bn_images, test_limit=options.test_batches,
        )  # fmt: skip
        copy_errors = [ends(probe, state, datamodule.test_dataloader, options) for state in (a, b)]
    finally:
        if seed is not None:
            datamodule.seed = seed
    results = {
        "barrier": barrier(errors),
        "alphas": points,
        "errors": errors,
        "copy_errors": copy_errors,
        "distance": distances([n for n, _ in network.named_parameters()], start, a, b, dense),
        "seeds": list(options.seeds),
        "steps": length.steps,
        "epochs": length.epochs,
        "bn": options.bn,
        "sparsity": sparsity(masks) if masks else 0.0,
    }
    if options.resume is not None:
        results["lr_step"] = options.resume.step
    return results


def ends(network: nn.Module, state: State, batches: Callable, options: Options) -> float:
    """The test error of one copy as trained (its own BatchNorm statistics)."""
    network.load_state_dict(state)
    return test_error(network, batches(), options.test_batches)

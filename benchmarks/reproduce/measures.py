"""Figures that need a run's trained weights, not only its results.json: which layers a mask
empties (claim 2) and how fast the PreCropping network trains (claim 5)."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from prunelab.export.checkpoint import read_checkpoint, restore_network
from prunelab.pruning.masks import ones_masks
from prunelab.pruning.policy import keep_counts
from prunelab.pruning.scores import magnitude
from prunelab.pruning.targets import prunable_parameters


def layer_report(counts: Mapping[str, int]) -> dict[str, Any]:
    """The fewest weights any layer keeps, and the layers that keep none."""
    return {
        "min_kept": min(counts.values(), default=0),
        "emptied": [n for n, c in counts.items() if c == 0],
    }


def collapse_records(
    weights: Mapping[str, torch.Tensor], grid: Sequence[float], mt_percents: Sequence[float]
) -> list[dict[str, Any]]:
    """One-shot global magnitude masks of `weights` at each sparsity of `grid`, without and with
    each minimum threshold (percent of all prunable weights); an infeasible MT is recorded so."""
    scores, ones = magnitude(weights), ones_masks(weights)
    records = []
    for sparsity in grid:
        record = {
            "sparsity": sparsity,
            "global": layer_report(keep_counts("global", scores, ones, sparsity)),
        }
        for mt in mt_percents:
            try:
                counts = keep_counts("global", scores, ones, sparsity, mt)
                record[f"mt{mt:g}"] = layer_report(counts)
            except ValueError:  # M x layers exceeds the weights kept: MT refuses this sparsity
                record[f"mt{mt:g}"] = {"infeasible": True}
        records.append(record)
    return records


def trained_weights(ckpt: Path) -> dict[str, torch.Tensor]:
    """The prunable weights of a finished run, masks applied."""
    network = restore_network(read_checkpoint(ckpt))
    return {n: p.detach() for n, p in prunable_parameters(network).items()}


def mask_report(ckpt: Path) -> dict[str, Any]:
    """`layer_report` of the masks a run's checkpoint holds."""
    masks = read_checkpoint(ckpt).masks
    return layer_report({n: int(m.sum()) for n, m in masks.items()})


def precrop_timing(ckpt: Path, reps: int, threads: int) -> dict[str, float]:
    """Median step times of dense ResNet-20 (what SNIP trains) and the run's PreCropping network,
    timed interleaved by `benchmarks/precrop_speed.py`'s `measure`, plus their MACs."""
    from precrop_speed import SHAPE, measure  # benchmarks/ is on the path, as for `reproduce`

    from prunelab.counting import count_macs
    from prunelab.models import resnet20

    torch.set_num_threads(threads)
    cropped = restore_network(read_checkpoint(ckpt))
    torch.manual_seed(0)
    dense = resnet20()
    args = Namespace(batch=128, reps=reps, warmup=2, channels_last=False)
    medians = measure(dense, cropped, args)
    out = {
        f"{variant}_{kind}_ms": 1e3 * medians[(variant, kind)]
        for variant in ("dense", "cropped")
        for kind in ("train", "infer")
    }
    out["speedup"] = out["dense_train_ms"] / out["cropped_train_ms"]
    out["macs_dense"] = float(count_macs(dense, SHAPE)[0])
    out["macs_cropped"] = float(count_macs(cropped, SHAPE)[0])
    return out

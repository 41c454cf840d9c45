"""`prunelab-export format=compact`: the dead channels of a masked checkpoint removed
(`prunelab.export.compact`), written as a checkpoint that `prunelab-eval` and `prunelab-bench` read
back like a PreCropping run: the run config, the narrow network's weights and the channel plan
that rebuilds its shapes from the full-width model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from prunelab.atomic import save_torch
from prunelab.counting import count_macs
from prunelab.export.checkpoint import PREFIX, Checkpoint, read_checkpoint, restore_network
from prunelab.export.compact import compact
from prunelab.pruning.channels import PLAN_KEY

TOLERANCE = 1e-5  # largest |compact - masked| logit difference accepted
PROBE = 8  # random images the read-back is compared on


def _params(network: torch.nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())


def input_shape(ckpt: Checkpoint, size: int | None = None) -> tuple[int, int, int]:
    """One input of the checkpoint's network: its plan's, else (3, data.image_size, same)."""
    if ckpt.plan is not None and not size:
        return tuple(int(s) for s in ckpt.plan["input_shape"])
    side = int(size or ckpt.config.get("data", {}).get("image_size") or 32)
    return (3, side, side)


def write_compact(
    ckpt: Checkpoint, network: torch.nn.Module, out: Path, verify: bool, multiple: int = 1
) -> dict:
    """Remove the dead channels of `network` (the checkpoint's, masks baked in), write `out`;
    `multiple`: keep whole blocks of channels (`prunelab.export.compact.removable`).

    Returns export.json's entries: channels removed (by reason), parameters and MACs before and
    after, and (if `verify`) the largest logit difference of the read-back file.

    Raises:
        RuntimeError: the file read back differs from the masked network by more than TOLERANCE.
    """
    shape = input_shape(ckpt)
    small, removal, plan = compact(network, shape, multiple)
    if ckpt.plan is not None:  # already narrow: the plan starts from the same full width
        plan["widths"] = dict(ckpt.plan["widths"])
    state = {PREFIX + k: v.detach().clone() for k, v in small.state_dict().items()}
    save_torch({"prunelab_config": ckpt.config, "state_dict": state, PLAN_KEY: plan}, out)
    reasons = [r for rs in removal.reasons.values() for r in rs]
    macs, small_macs = count_macs(network, shape)[0], count_macs(small, shape)[0]
    info: dict[str, Any] = {
        "compact/channels_removed": removal.count,
        "compact/removed_unread": reasons.count("unread"),
        "compact/removed_zero": reasons.count("zero"),
        "compact/params": _params(small),
        "compact/params_masked": _params(network),
        "compact/macs": small_macs,
        "compact/macs_masked": macs,
        "compact/mac_reduction": macs / small_macs,
    }
    if verify:
        rebuilt = restore_network(read_checkpoint(out))
        images = torch.randn((PROBE, *shape), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            error = (rebuilt(images) - network.eval()(images)).abs().max().item()
        if not error <= TOLERANCE:
            raise RuntimeError(f"{out}: the compact network differs from the masked by {error:.3g}")
        info["compact/max_abs_error"] = error
    return info

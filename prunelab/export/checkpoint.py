"""Read a prunelab checkpoint safely and rebuild its network, masks baked into the weights.

Loading never executes code from the file: it goes through the one loader (`prunelab.loading`,
`torch.load(weights_only=True)`), and the run config stored in it is data: the network is built
only from `_target_`s of prunelab's own config tree (`prunelab.allowlist`). A file that is not a
readable prunelab checkpoint (truncated, corrupt, a foreign pickle, a bare state_dict, a stored
config naming foreign code) is refused with a `CheckpointError` that says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from torch import nn

from prunelab.allowlist import check_targets
from prunelab.loading import LoadError, load_file
from prunelab.pruning.channels import PLAN_KEY, apply_plan

PREFIX = "network."  # Classifier keeps the network as `self.network`


# Every checkpoint problem is a LoadError of the one loader (one line, naming file and reason).
CheckpointError = LoadError


@dataclass
class Checkpoint:
    """What eval and export need from a prunelab checkpoint.

    Attributes:
        path: the file it was read from.
        config: the resolved run config it was trained with (`checkpoint["prunelab_config"]`).
        state_dict: the network's tensors by parameter/buffer name (no `network.` prefix).
        masks: the pruning masks by parameter name (True = kept); empty for a dense run.
        plan: the PreCropping channel plan of a structurally pruned network (None if full width).
    """

    path: Path
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    plan: dict[str, Any] | None = None


def collect_masks(callback_states: Any) -> dict[str, torch.Tensor]:
    """The masks saved by MaskedTraining-based callbacks (`{"masks": {name: bool tensor}}`).

    Several mask-owning callbacks are combined with AND: a weight is kept only if all keep it.
    """
    masks: dict[str, torch.Tensor] = {}
    if not isinstance(callback_states, Mapping):
        return masks
    for state in callback_states.values():
        found = state.get("masks") if isinstance(state, Mapping) else None
        if not isinstance(found, Mapping):
            continue
        for name, mask in found.items():
            if isinstance(mask, torch.Tensor) and mask.dtype == torch.bool:
                masks[name] = mask & masks[name] if name in masks else mask
    return masks


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by a prunelab run (e.g. `runs/.../checkpoints/last.ckpt`).

    Raises:
        CheckpointError: the file is missing, unreadable, or not a prunelab checkpoint.
    """
    path = Path(path)
    raw = load_file(path)
    config = raw.get("prunelab_config") if isinstance(raw, Mapping) else None
    state = raw.get("state_dict") if isinstance(raw, Mapping) else None
    if not isinstance(config, Mapping) or not config or not isinstance(state, Mapping):
        raise CheckpointError(
            f"ckpt_path={path} is not a prunelab checkpoint (it has no run config and "
            "network weights: a bare state_dict or another program's file?)"
        )
    network = {k.removeprefix(PREFIX): v for k, v in state.items() if k.startswith(PREFIX)}
    if not network or not all(isinstance(v, torch.Tensor) for v in network.values()):
        raise CheckpointError(f"ckpt_path={path} holds no `network.*` weights")
    if not isinstance(config.get("model"), Mapping):
        raise CheckpointError(f"ckpt_path={path}: its run config has no `model` section")
    masks = collect_masks(raw.get("callbacks"))
    plan = raw.get(PLAN_KEY)
    if plan is not None and not isinstance(plan, Mapping):
        raise CheckpointError(f"ckpt_path={path}: its channel plan ({PLAN_KEY}) is not a mapping")
    return Checkpoint(path, dict(config), network, masks, None if plan is None else dict(plan))


def bake_masks(
    state: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """A copy of `state` with every pruned weight set to exactly 0 (as MaskedTraining does).

    Raises:
        CheckpointError: a mask names a tensor the state lacks, or has another shape.
    """
    baked = dict(state)
    for name, mask in masks.items():
        if name not in baked or baked[name].shape != mask.shape:
            raise CheckpointError(f"the checkpoint's mask for {name} does not fit its weights")
        baked[name] = baked[name].masked_fill(~mask, 0)
    return baked


def fresh_network(model_cfg: Mapping[str, Any], source: str = "the checkpoint") -> nn.Module:
    """Instantiate the model config without `init_from` / `weights` (the checkpoint supplies the
    weights), after checking that it names only prunelab's own targets.

    Raises:
        CheckpointError: the config names a `_target_` outside prunelab's config tree.
    """
    args = {k: v for k, v in model_cfg.items() if k not in ("init_from", "weights")}
    check_targets(args, "model", source)
    return instantiate(args, _convert_="all")


def _mismatches(network: nn.Module, state: Mapping[str, torch.Tensor]) -> list[str]:
    expected = network.state_dict()
    wrong = [
        f"{n}: checkpoint {tuple(t.shape)} vs model {tuple(expected[n].shape)}"
        for n, t in state.items()
        if n in expected and tuple(t.shape) != tuple(expected[n].shape)
    ]
    return wrong


def restore_network(ckpt: Checkpoint, model_cfg: Mapping[str, Any] | None = None) -> nn.Module:
    """Build the checkpoint's network and load its masked weights; returned in eval mode.

    A precropped checkpoint is rebuilt as it was trained: the full-width model of the config,
    cut to the recorded channel plan, then loaded.

    Args:
        ckpt: a read checkpoint.
        model_cfg: the model config to build (default: the checkpoint's stored `model`).

    Raises:
        CheckpointError: the plan or the weights do not fit the built network.
    """
    model = model_cfg if model_cfg is not None else ckpt.config["model"]
    network = fresh_network(model, f"ckpt_path={ckpt.path}")
    if ckpt.plan is not None:
        try:
            apply_plan(network, ckpt.plan)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"ckpt_path={ckpt.path}: its channel plan: {exc}") from exc
    state = bake_masks(ckpt.state_dict, ckpt.masks)
    wrong = _mismatches(network, state)
    if wrong:
        raise CheckpointError(
            f"ckpt_path={ckpt.path} holds a structurally pruned network (tensor shapes differ "
            f"from the model its config builds, e.g. {wrong[0]}) and no channel plan that "
            "rebuilds it"
        )
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(
            f"ckpt_path={ckpt.path} does not fit the model config: {' '.join(first[:3])}"
        ) from exc
    return network.eval()

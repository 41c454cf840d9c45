"""What happens to weights and learning rate after an IMP level: the rewind point, snapshots,
fresh initialization and putting a learning-rate schedule back at a given step.

Pure helpers over modules, optimizers and schedulers (no Lightning). Rewinding restores the whole
state of the network at the rewind point: weights, BatchNorm affine parameters and running
statistics, all bit for bit (ALGORITHMS.md section 1).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Mapping
from typing import NamedTuple

import torch
from torch import nn

from prunelab.errors import ConfigError

REWINDS = ("init", "step:K", "lr", "lr:K", "none")


class Rewind(NamedTuple):
    """A parsed `pruning.rewind`: what to restore after pruning, and from which optimizer step.

    `mode` is `weights` (restore the snapshot taken at `step` and replay the learning rate from
    there), `lr` (keep the trained weights, replay the learning rate from `step`) or `none`
    (keep weights and learning rate: fine-tuning at the schedule's final value).
    """

    mode: str
    step: int


def parse_rewind(spec: str | int) -> Rewind:
    """Parse `init`, `step:K`, `lr`, `lr:K` or `none` (K a non-negative optimizer step).

    Raises:
        ConfigError: anything else, naming the value and the valid forms.
    """
    text = str(spec).strip()
    head, _, tail = text.partition(":")
    if text in ("init", "lr", "none"):
        return Rewind({"init": "weights"}.get(text, text), 0)
    if head in ("step", "lr") and tail.isdigit():
        return Rewind("weights" if head == "step" else "lr", int(tail))
    raise ConfigError(f"pruning.rewind={spec!r} is not one of {', '.join(REWINDS)} (K >= 0)")


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the module's whole state (parameters and buffers, BN statistics included)."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


@torch.no_grad()
def restore(module: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Copy `state` into the module's tensors in place (same objects, same devices), bit for bit.

    In place, so an optimizer that holds the parameters keeps working on them.
    """
    module.load_state_dict(state, strict=True)


def reinitialize(
    module: nn.Module, seed: int, init_fn: Callable[[nn.Module], object] | None = None
) -> None:
    """Replace the module's whole state by a fresh initialization drawn from `seed`.

    Every submodule with `reset_parameters` is reset (PyTorch's default init; BatchNorm also
    resets its running statistics), then `init_fn(copy)` applies the network's own scheme (e.g.
    OpenLTH's). The draw happens on a CPU copy under a forked CPU generator: the same seed gives
    the same weights on any device, and the global random state is left as it was.
    """
    fresh = copy.deepcopy(module).cpu()
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        for sub in fresh.modules():
            reset = getattr(sub, "reset_parameters", None)
            if sub is not fresh and callable(reset):
                reset()
        if init_fn is not None:
            init_fn(fresh)
        for sub in fresh.modules():
            if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                sub.reset_running_stats()
    restore(module, fresh.state_dict())


def reset_optimizer(optimizer: torch.optim.Optimizer) -> None:
    """Fresh optimizer state: no momentum or Adam moments for any parameter."""
    optimizer.state.clear()


def schedule_lrs(scheduler: torch.optim.lr_scheduler.LRScheduler, step: int) -> list[float]:
    """Put `scheduler` (and its optimizer's learning rates) at position `step`; return the lrs.

    A `LambdaLR` (prunelab's schedules) is positioned in closed form: last_epoch = step and
    lr = base_lr * factor(step), exactly what it would hold after `step` steps from the start.
    Any other scheduler is replayed from its base learning rates, `step` calls of `step()`.
    """
    optimizer = scheduler.optimizer
    if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
        scheduler.last_epoch = step
        lrs = [base * fn(step) for base, fn in zip(scheduler.base_lrs, scheduler.lr_lambdas)]
    else:
        for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
            group["lr"] = base
        scheduler.last_epoch = 0
        with warnings.catch_warnings():  # "step() before optimizer.step()": a replay, on purpose
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(step):
                scheduler.step()
        lrs = [group["lr"] for group in optimizer.param_groups]
    for group, lr in zip(optimizer.param_groups, lrs):
        group["lr"] = lr
    scheduler._last_lr = list(lrs)  # what get_last_lr() and LearningRateMonitor report
    return lrs

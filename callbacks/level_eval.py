"""Test accuracy in the middle of a fit: the end-of-level evaluation of IMP-style callbacks.

Lightning's own `trainer.test` cannot run inside `fit`, so this is a plain no-grad loop over the
datamodule's test loader with the module in eval mode. It sees exactly the batches `trainer.test`
would see (`limit_test_batches` applies the same way), and sums across DDP ranks, so the figure of
the last level equals the run's final `test/acc`.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F


def limited_batches(limit: int | float | None, available: int) -> int:
    """How many of `available` batches Lightning runs under a `limit_*_batches` value.

    An int is a count, a float a fraction (rounded down, at least one when positive), None all.
    """
    if limit is None:
        return available
    if isinstance(limit, int) and not isinstance(limit, bool):
        return min(available, limit)
    return max(1, int(available * limit)) if limit > 0 else 0


def find_test_loader(trainer: pl.Trainer):
    """The datamodule's test loader, or None when the fit has no datamodule that offers one."""
    datamodule = getattr(trainer, "datamodule", None)
    if datamodule is None:
        return None
    try:
        return datamodule.test_dataloader()
    except (NotImplementedError, AttributeError):  # a datamodule without a test split
        return None


@torch.no_grad()
def evaluate_test(trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, float] | None:
    """Top-1 accuracy and mean cross-entropy of `pl_module(x)` (logits) on the test split.

    Returns:
        `{"test/acc": ..., "test/loss": ...}` as fractions / nats, or None without a test loader
        (or with no test batch allowed).
    """
    loader = find_test_loader(trainer)
    if loader is None:
        return None
    count = limited_batches(trainer.limit_test_batches, len(loader))
    modes = {m: m.training for m in pl_module.modules()}
    pl_module.eval()
    device = pl_module.device
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # correct, seen, summed loss
    try:
        for index, batch in enumerate(loader):
            if index >= count:
                break
            x, y = trainer.strategy.batch_to_device(batch)[:2]
            logits = pl_module(x)
            sums[0] += (logits.argmax(1) == y).sum()
            sums[1] += y.numel()
            sums[2] += F.cross_entropy(logits.float(), y, reduction="sum")
    finally:
        for module, mode in modes.items():  # each module's own mode (a frozen BN stays frozen)
            module.training = mode
    sums = trainer.strategy.reduce(sums, reduce_op="sum")
    seen = float(sums[1])
    if seen == 0:  # limit_test_batches=0: nothing was evaluated
        return None
    return {"test/acc": float(sums[0]) / seen, "test/loss": float(sums[2]) / seen}

"""N:M (2:4) masks: exactly N kept in every group of M consecutive inputs, the N largest, total
sparsity exactly 1 - N/M; the pattern through GlobalMagnitudePruning, refused where it cannot
hold, and kept through a short training run (pruned weights stay zero, optimizer included)."""

from __future__ import annotations

import itertools

import pytest
import pytorch_lightning as pl
import torch
from tiny_lightning import Synthetic, tiny_net
from torch import nn

from prunelab.callbacks import GlobalMagnitudePruning
from prunelab.config import compose
from prunelab.errors import ConfigError
from prunelab.pruning.masks import ones_masks, sparsity
from prunelab.pruning.nm import nm_masks, nm_violations, parse_pattern
from prunelab.pruning.rules import MagnitudeRule
from prunelab.train import train


def groups(tensor: torch.Tensor, m: int):
    """Reference grouping by explicit indexing: (out, in, *k) -> every tensor[o, i:i+m, *pos]."""
    out, inputs, *kernel = tensor.shape
    for o, pos in itertools.product(range(out), itertools.product(*map(range, kernel))):
        for start in range(0, inputs, m):
            yield tensor[(o, slice(start, start + m), *pos)]


def weights(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    shapes = {"fc.weight": (6, 16), "conv.weight": (5, 8, 3, 3), "wide.weight": (3, 24, 1, 2)}
    return {name: torch.randn(shape, generator=gen) for name, shape in shapes.items()}


@pytest.mark.parametrize("pattern", ["2:4", "1:4", "3:4", "2:8"])
def test_every_group_keeps_exactly_its_n_largest(pattern):
    n, m = parse_pattern(pattern)
    params = weights()
    masks = nm_masks({k: w.abs() for k, w in params.items()}, ones_masks(params), pattern)
    for name, w in params.items():
        for kept, group in zip(groups(masks[name], m), groups(w.abs(), m)):
            assert int(kept.sum()) == n, name
            assert group[kept].min() > group[~kept].max(), name  # continuous weights: no ties
    assert sparsity(masks) == 1 - n / m  # exact, to the weight
    assert nm_violations(masks, pattern) == dict.fromkeys(params, 0)


def test_ties_go_to_the_lower_input_index_and_masks_only_shrink():
    equal = {"fc.weight": torch.ones(2, 8)}
    masks = nm_masks(equal, ones_masks(equal), "2:4")
    assert masks["fc.weight"].tolist() == [[True, True, False, False] * 2] * 2
    old = {"fc.weight": torch.tensor([[False, True, True, True] * 2] * 2)}
    new = nm_masks(equal, old, "2:4")  # the pruned position 0 is never re-activated
    assert new["fc.weight"].tolist() == [[False, True, True, False] * 2] * 2
    with pytest.raises(ValueError, match="fewer than 2 active"):
        nm_masks(equal, {"fc.weight": torch.tensor([[True] * 5 + [False] * 3] * 2)}, "2:4")


def test_unpatternable_settings_are_refused_naming_them():
    params = {"conv1.weight": torch.randn(4, 3, 3, 3), "fc.weight": torch.randn(4, 8)}
    with pytest.raises(ValueError, match=r"conv1\.weight is not a multiple of 4.*exclude"):
        MagnitudeRule(pattern="2:4").check(params, 0.5)
    with pytest.raises(ValueError, match=r"sparsity=0\.9 disagrees with pattern=2:4.*0\.5"):
        MagnitudeRule(pattern="2:4").check({"fc.weight": params["fc.weight"]}, 0.9)
    for bad in ("4:4", "2-4", "0:4", "a:b"):
        with pytest.raises(ValueError, match=f"pattern='{bad}' must be 'N:M'"):
            parse_pattern(bad)
    with pytest.raises(ValueError, match="allocation=erk"):
        MagnitudeRule("erk", pattern="2:4")
    with pytest.raises(ConfigError, match=r"pruning\.pattern=2:4 needs pruning\.schedule=oneshot"):
        GlobalMagnitudePruning(0.5, schedule="gradual", pattern="2:4")
    with pytest.raises(ConfigError, match=r"pruning\.sparsity=0\.9 disagrees"):
        GlobalMagnitudePruning(0.9, pattern="2:4")


def test_the_rule_with_a_pattern_is_the_nm_selection_by_magnitude():
    params = weights(1)
    rule = MagnitudeRule(pattern="2:4")
    got = rule.masks(params, ones_masks(params), 0.5)
    expected = nm_masks({k: w.abs() for k, w in params.items()}, ones_masks(params), "2:4")
    assert all(torch.equal(got[k], expected[k]) for k in params)


class Module(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.body = tiny_net()

    def training_step(self, batch, batch_idx):
        return nn.functional.cross_entropy(self.body(batch[0]), batch[1])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)


class ZerosHold(pl.Callback):
    """After every optimizer step: the N:M masks hold and the weights are zero where pruned."""

    def __init__(self, pruning):
        self.pruning, self.checked = pruning, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        masks, params = self.pruning.masks, self.pruning.params(pl_module)
        assert nm_violations(masks, "2:4") == dict.fromkeys(masks, 0)
        for name, mask in masks.items():
            assert torch.count_nonzero(params[name].detach()[~mask]) == 0, name
            assert torch.count_nonzero(params[name].detach()[mask]) == mask.sum(), name
        self.checked += 1


def test_two_four_masks_hold_through_training():
    torch.manual_seed(0)
    pruning = GlobalMagnitudePruning(0.5, pattern="2:4", exclude=["body.0.weight"], plot=False)
    check = ZerosHold(pruning)
    trainer = pl.Trainer(
        max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[pruning, check],
    )  # fmt: skip
    module = Module()
    trainer.fit(module, datamodule=Synthetic(batch_size=16))
    assert check.checked == 8  # 2 epochs of 4 batches, every one checked
    assert set(pruning.masks) == {"body.3.weight", "body.8.weight"}  # body.0: 3 input channels
    assert sparsity(pruning.masks) == 0.5
    assert float(trainer.callback_metrics["prune/sparsity"]) == 0.5


def test_the_command_line_pattern_reaches_the_rule_and_unfit_layers_are_named(tmp_path):
    base = ["pruning=global_magnitude", "pruning.pattern=2:4", "logger=csv"]
    with pytest.raises(ConfigError, match=r"pruning\.sparsity=0\.9 disagrees with pattern=2:4"):
        train(compose(base), tmp_path / "a")
    with pytest.raises(ConfigError, match=r"pruning\.pattern=2:4 .*conv1\.weight is not"):
        train(compose([*base, "pruning.sparsity=0.5"]), tmp_path / "b")

"""`pruning.rule.structure=channel` (or `+pruning.structure=channel`) wired into the presets:
gmp and global_magnitude build a PruningMethod whose rule prunes whole channels (bound to the
network at fit start) and reach their target on a tiny Lightning run; other parts refuse it."""

import pytest
import torch
from omegaconf import OmegaConf
from test_composition import fit

from prunelab import composition
from prunelab.callbacks import PruningMethod
from prunelab.config import compose
from prunelab.errors import ConfigError
from prunelab.pruning.allocation import keep_total
from prunelab.pruning.channel_rule import ChannelRule
from prunelab.pruning.rules import MagnitudeRule


def build(overrides):
    node = OmegaConf.to_container(compose(overrides).pruning, resolve=True)
    node.pop("name")
    return composition.build(node)


def test_presets_take_the_structure_and_refuse_what_cannot_hold_it():
    for preset in ("gmp", "global_magnitude"):
        method = build([f"pruning={preset}", "pruning.rule.structure=channel"])
        assert isinstance(method, PruningMethod) and isinstance(method.rule, ChannelRule)
    assert isinstance(build(["pruning=gmp", "+pruning.structure=channel"]).rule, ChannelRule)
    assert isinstance(build(["pruning=gmp"]).rule, MagnitudeRule)  # weight: as before
    with pytest.raises(ConfigError, match="structure=channel is an option of the magnitude rule"):
        build(["pruning=imp", "pruning.rule.structure=channel"])
    with pytest.raises(ValueError, match="takes no allocation='erk'"):
        build(["pruning=gmp", "pruning.rule.structure=channel", "pruning.allocation=erk"])


def test_a_one_shot_run_prunes_whole_channels_to_its_target():
    method = build(
        ["pruning=global_magnitude", "pruning.rule.structure=channel", "pruning.sparsity=0.4"]
    )
    history, weights = fit(method, epochs=1)
    masks = history[-1]
    total = sum(m.numel() for m in masks.values())
    zeros = sum(int((~m).sum()) for m in masks.values())
    assert zeros >= total - keep_total(total, 0.4)
    # tiny_net: the first conv's pruned filters are the second conv's pruned input columns
    first, second = masks["0.weight"], masks["3.weight"]
    dead = ~first.reshape(first.shape[0], -1).any(1)
    assert dead.any() and torch.equal(~second.any(dim=(0, 2, 3)), dead)
    assert not weights["0.weight"][dead].any()  # and they stayed zero through training

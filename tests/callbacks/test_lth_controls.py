"""The lottery-ticket controls as Frankle & Carbin (2019) and OpenLTH define them, checked against
the IMP run they control: `random_reinit` trains that run's masks of every level from a fresh
initialization, `random_prune` shuffles them within each layer; without that run, refused."""

import pytest
import pytorch_lightning as pl
import torch
from tiny_lightning import Synthetic, tiny_net

from prunelab.building import build_pruning
from prunelab.callbacks import IterativeMagnitudePruning, PQIndexPruning
from prunelab.config import compose
from prunelab.errors import ConfigError
from prunelab.module import Classifier

EPOCHS, LEVELS = 2, 2  # per level 2 epochs of 4 steps; levels 0 (dense), 1, 2
OPTIM = {"name": "sgd", "lr": 0.1, "momentum": 0.9}


class LevelStarts(pl.Callback):
    """Masks and network state at the start of each level (runs after the pruning callback)."""

    def __init__(self):
        self.masks, self.state = {}, {}

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch % EPOCHS == 0:
            imp = next(c for c in trainer.callbacks if isinstance(c, IterativeMagnitudePruning))
            level = trainer.current_epoch // EPOCHS
            self.masks[level] = {n: m.clone() for n, m in imp.masks.items()}
            self.state[level] = {k: v.clone() for k, v in pl_module.network.state_dict().items()}


def fit(root, **imp_args):
    pl.seed_everything(0, verbose=False)
    module = Classifier(tiny_net(), 4, OPTIM, {"name": "cosine"})
    imp = IterativeMagnitudePruning(LEVELS, EPOCHS, rewind="step:3", plot=False, **imp_args)
    starts = LevelStarts()
    trainer = pl.Trainer(
        max_epochs=imp.planned_epochs, callbacks=[imp, starts], logger=False,
        default_root_dir=str(root), enable_progress_bar=False, enable_model_summary=False,
        use_distributed_sampler=False, accelerator="cpu", num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(module, datamodule=Synthetic(batch_size=16, seed=0))
    return imp, starts


@pytest.fixture(scope="module")
def ticket(tmp_path_factory):
    """The IMP run the controls control: its directory (with `masks/level<L>.pt`), the callback
    and the masks and state it started each level with."""
    root = tmp_path_factory.mktemp("imp")
    imp, starts = fit(root)
    assert sorted(p.name for p in (root / "masks").iterdir()) == ["level1.pt", "level2.pt"]
    return root, imp, starts


def counts(masks):
    return {n: int(m.sum()) for n, m in masks.items()}


def test_random_prune_keeps_every_layers_imp_count_at_shuffled_positions(ticket, tmp_path):
    root, imp, tickets = ticket
    control, seen = fit(tmp_path, control="random_prune", masks_from=str(root))
    # Level 0 is the same dense training, so the rewind point is the IMP run's.
    assert all(torch.equal(v, imp.snapshot[k]) for k, v in control.snapshot.items())
    for level in range(1, LEVELS + 1):
        imp_masks, masks = tickets.masks[level], seen.masks[level]
        assert counts(masks) == counts(imp_masks)  # per layer, to the weight
        for name, mask in masks.items():
            if 0 < int(mask.sum()) < mask.numel():  # a layer with a choice to make
                assert not torch.equal(mask, imp_masks[name]), (level, name)
            assert not bool((mask & ~seen.masks[level - 1][name]).any())  # pruned stays pruned
            weights = seen.state[level][name]
            assert torch.equal(weights[mask], imp.snapshot[name][mask])  # rewound like IMP
            assert bool((weights[~mask] == 0).all())


def test_random_reinit_trains_the_imp_masks_from_fresh_weights(ticket, tmp_path):
    root, imp, tickets = ticket
    control, seen = fit(tmp_path, control="random_reinit", masks_from=str(root))
    for level in range(1, LEVELS + 1):
        masks, state = seen.masks[level], seen.state[level]
        assert masks.keys() == tickets.masks[level].keys()
        assert all(torch.equal(m, tickets.masks[level][n]) for n, m in masks.items())
        for name, mask in masks.items():
            assert not torch.equal(state[name][mask], imp.snapshot[name][mask]), (level, name)
            assert not torch.equal(state[name][mask], tickets.state[level][name][mask])
            assert bool((state[name][~mask] == 0).all())
        assert torch.equal(state["1.running_mean"], torch.zeros(8))  # fresh BN statistics
    # Each level draws its own initialization (the level's seed).
    first, second = seen.state[1]["0.weight"], seen.state[2]["0.weight"]
    both = seen.masks[2]["0.weight"]
    assert not torch.equal(first[both], second[both])


@pytest.mark.parametrize("method", [IterativeMagnitudePruning, PQIndexPruning])
@pytest.mark.parametrize("control", ["random_reinit", "random_prune"])
def test_a_control_without_the_run_it_controls_is_refused_in_one_line(method, control):
    line = rf"^pruning.control={control} controls an IMP run: give that run's directory as "
    with pytest.raises(ConfigError, match=line + r"pruning.masks_from=<run dir>[^\n]*$"):
        method(LEVELS, EPOCHS, control=control)
    # The CLI's path: the config builds nothing, so the refusal comes before any data is read.
    with pytest.raises(ConfigError, match=line):
        build_pruning(compose(["pruning=lth", f"pruning.control={control}"]).pruning)

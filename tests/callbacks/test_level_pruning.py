"""IMP and SAP are constructions of LevelPruning from the core parts: the parts they bind, the
settings other code reads through them, and the checkpoint keys IMP's checkpoints always had."""

import torch

from prunelab.callbacks import IterativeMagnitudePruning, LevelPruning, PQIndexPruning
from prunelab.callbacks.pq_index import PQIndexProbe
from prunelab.pruning.actions import LevelRewind
from prunelab.pruning.mask_io import save_masks
from prunelab.pruning.rewind import Rewind
from prunelab.pruning.rules import FractionRule, PQIndexRule
from prunelab.pruning.schedules import Levels


def test_imp_binds_its_rule_plan_and_rewind(tmp_path):
    for level in (1, 2, 3):  # the run a control controls: its per-level mask files
        save_masks(tmp_path / "masks" / f"level{level}.pt", {"w": torch.ones(2, dtype=bool)})
    imp = IterativeMagnitudePruning(
        3, 2, 0.3, "step:5", "layerwise", "random_prune", seed=4, masks_from=str(tmp_path)
    )
    assert isinstance(imp, LevelPruning)
    assert imp.rule == FractionRule(0.3, "layerwise") and imp.schedule == Levels(3, 2)
    assert (imp.levels, imp.epochs_per_level, imp.planned_epochs) == (3, 2, 8)
    assert imp.rewind == Rewind("weights", 5) and imp.rewind_spec() == "step:5"
    assert (imp.control, imp.seed) == ("random_prune", 4)
    assert (imp.fraction, imp.allocation) == (0.3, "layerwise")
    imp.snapshot = {"w": 1}
    assert imp.action.snapshot == {"w": 1}


def test_sap_binds_the_pq_rule_and_its_probe():
    sap = PQIndexPruning(2, 1, p=1.0, q=2.0, eta=0.5, scope="neuron", rewind="lr")
    assert sap.rule == PQIndexRule(1.0, 2.0, 0.5, 1.0, 0.9, "neuron")
    assert sap.records.probe == PQIndexProbe(1.0, 2.0, "neuron")
    assert sap.action == LevelRewind("lr") and sap.planned_epochs == 3


def test_checkpoint_keys_are_unchanged():
    imp = IterativeMagnitudePruning(2, 1, seed=3)
    state = imp.state_dict()
    assert list(state) == [
        "masks",
        "stages",
        "level",
        "level_best",
        "level_last",
        "snapshot",
        "seed",
    ]
    state.update(level=2, level_best=0.5, level_last=0.4, seed=9)
    again = IterativeMagnitudePruning(2, 1)
    again.load_state_dict(state)
    assert (again.level, again.level_best, again.level_last, again.seed) == (2, 0.5, 0.4, 9)

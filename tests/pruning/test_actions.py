"""Regrow as an action: the masks are prune_and_regrow's, each layer keeps its count, r follows
GraNet's cosine, and the run record (r, weights regrown) counts and survives a checkpoint."""

import math

import pytest
import torch

from prunelab.pruning.actions import Regrow


def test_regrow_moves_weights_keeps_counts_and_records_them():
    masks = {"w": torch.tensor([True, True, False, False, True, False])}
    weights = {"w": torch.tensor([0.9, 0.1, 0.0, 0.0, 0.5, 0.0])}
    grads = {"w": torch.tensor([0.0, 0.0, 0.3, 0.8, 0.0, 0.2])}
    action = Regrow(0.5, 0.5)
    new = action.masks(masks, weights, grads, 0.5)
    # ceil(0.5 * 3) = 2 dropped by |w| (0.1, then 0.5); 2 regrown by |grad|: 0.8 and 0.3.
    assert new["w"].tolist() == [True, False, True, True, False, False]
    metrics = action.record(masks, masks, new, 0.5)
    assert metrics == {"prune/regrow_fraction": 0.5, "prune/regrown": 2.0, "prune/churn": 2 / 3}
    assert action.summary() == {"prune/regrown_total": 2}
    again = Regrow(0.5, 0.5)
    again.load_state_dict(action.state_dict())
    assert again.state_dict() == {"regrow_fraction_now": 0.5, "regrown_total": 2}


def test_fraction_is_the_cosine_from_r0_to_the_floor_and_acts_from_step_one():
    action = Regrow(0.5, 0.005)
    for t in (0, 250, 500, 1000, 2000):
        expected = 0.005 + 0.495 * (1 + math.cos(math.pi * min(t, 1000) / 1000)) / 2
        assert action.fraction_at(t, 1000) == pytest.approx(expected, abs=1e-15)
    assert not action.acts_at(0) and action.acts_at(1)
    with pytest.raises(ValueError, match="fraction_min=0.6"):
        Regrow(0.5, 0.6)

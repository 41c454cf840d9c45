"""Level rules: IMP's FractionRule keeps exactly keep_total(N, 1 - (1 - f)^L) at level L (not a
compounded rounding), only among the weights still kept, every kept |w| above every pruned one
(global) or per layer (layerwise); SAP's PQIndexRule equals `sap_masks` called directly at every
scope; bad settings are refused naming the setting."""

import pytest
import torch
from torch import nn

from prunelab.pruning import is_subset, keep_total, ones_masks, prunable_parameters
from prunelab.pruning.rules import FractionRule, PQIndexRule
from prunelab.pruning.sap import sap_masks


def params():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 16, 3), nn.Linear(16, 10))
    for i, module in enumerate(net):
        nn.init.normal_(module.weight, std=10.0**-i)
    return prunable_parameters(net)


def kept(masks):
    return sum(int(m.sum()) for m in masks.values())


def test_fraction_rule_level_count_is_the_closed_form_of_the_level_not_a_compounding():
    weights = params()
    n = sum(p.numel() for p in weights.values())
    masks = ones_masks(weights)
    for level in range(1, 8):
        new = FractionRule(0.2, "global").masks(weights, masks, level)
        assert kept(new) == keep_total(n, 1 - 0.8**level)
        assert kept(new) == round(n * 0.8**level)  # the formula written out, no compounding
        assert is_subset(new, masks)
        masks = new


def test_fraction_rule_global_keeps_the_largest_magnitudes():
    weights = params()
    masks = FractionRule(0.5, "global").masks(weights, ones_masks(weights), 2)
    on = torch.cat([weights[n].detach().abs()[m] for n, m in masks.items()])
    off = torch.cat([weights[n].detach().abs()[~m] for n, m in masks.items()])
    assert on.min() >= off.max()


def test_fraction_rule_layerwise_prunes_each_layer_to_the_level_sparsity():
    weights = params()
    masks = FractionRule(0.2, "layerwise").masks(weights, ones_masks(weights), 3)
    n = sum(m.numel() for m in masks.values())
    assert kept(masks) == keep_total(n, 1 - 0.8**3)  # exact in total
    for name, mask in masks.items():  # each layer: floor or ceil of its own quota
        quota = mask.numel() * 0.8**3
        assert int(mask.sum()) in (int(quota), int(quota) + 1)
        w = weights[name].detach().abs()
        assert w[mask].min() >= w[~mask].max()


@pytest.mark.parametrize("scope", ["global", "layer", "neuron"])
@pytest.mark.parametrize("rule", [{}, {"p": 1.0, "q": 2.0, "eta": 0.5, "gamma": 2.0, "beta": 0.5}])
def test_pq_index_rule_equals_sap_masks_called_directly(scope, rule):
    weights = params()
    ours, theirs = ones_masks(weights), ones_masks(weights)
    for level in (1, 2, 3):  # later rounds work among the survivors
        ours = PQIndexRule(scope=scope, **rule).masks(weights, ours, level)
        theirs = sap_masks(weights, theirs, scope, **rule)
        assert all(torch.equal(ours[n], theirs[n]) for n in theirs)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: FractionRule(0.0), r"fraction=0.0 must be in \(0, 1\)"),
        (lambda: FractionRule(0.2, "erk"), "allocation='erk' is not one of global, layerwise"),
        (lambda: PQIndexRule(p=1.0, q=1.0), "needs 0 < p < q"),
        (lambda: PQIndexRule(beta=0.0), r"beta=0.0 in \(0, 1\]"),
        (lambda: PQIndexRule(scope="row"), "scope='row' is not one of global, layer, neuron"),
    ],
)
def test_bad_level_rules_are_refused_naming_the_setting(make, match):
    with pytest.raises(ValueError, match=match):
        make()

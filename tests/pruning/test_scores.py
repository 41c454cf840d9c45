"""Importance scores: magnitude, gradient, SNIP, random, and data-free SynFlow."""

import pytest
import torch
from torch import nn

from prunelab.pruning import (
    gradient_magnitude,
    magnitude,
    prunable_parameters,
    random_scores,
    snip,
    synflow,
)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 5),
    )


def test_magnitude_gradient_and_snip():
    model = _model()
    params = prunable_parameters(model)
    with pytest.raises(ValueError, match="no gradient"):
        gradient_magnitude(params)
    model(torch.randn(2, 3, 8, 8)).pow(2).sum().backward()
    for name, p in params.items():
        assert torch.equal(magnitude(params)[name], p.detach().abs())
        assert torch.equal(gradient_magnitude(params)[name], p.grad.abs())
        assert torch.equal(snip(params)[name], (p.detach() * p.grad).abs())
        assert not magnitude(params)[name].requires_grad


def test_random_scores_follow_the_seed():
    params = prunable_parameters(_model())
    a = random_scores(params, torch.Generator().manual_seed(3))
    b = random_scores(params, torch.Generator().manual_seed(3))
    c = random_scores(params, torch.Generator().manual_seed(4))
    for name, p in params.items():
        assert a[name].shape == p.shape
        assert torch.equal(a[name], b[name])
        assert not torch.equal(a[name], c[name])
        assert ((a[name] >= 0) & (a[name] < 1)).all()


def test_synflow_matches_the_closed_form_of_a_linear_chain():
    # f(x) = |W2| |W1| x with x = 1: R = 1^T |W2| |W1| 1, so dR/dW1[i, j] = sum_k |W2[k, i]| and
    # dR/dW2[k, i] = sum_j |W1[i, j]|; the score multiplies by |w|.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4, bias=False), nn.Linear(4, 3, bias=False))
    params = prunable_parameters(model)
    scores = synflow(model, (5,), params)
    w1, w2 = model[0].weight.detach().double().abs(), model[1].weight.detach().double().abs()
    expected_1 = w1 * w2.sum(0)[:, None]
    expected_2 = w2 * w1.sum(1)[None, :]
    torch.testing.assert_close(scores["0.weight"], expected_1)
    torch.testing.assert_close(scores["1.weight"], expected_2)


def test_synflow_leaves_the_model_untouched():
    model = _model().train()
    params = prunable_parameters(model)
    with torch.no_grad():
        params["0.weight"][0] = 0.0  # a pruned filter scores 0
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scores = synflow(model, (3, 8, 8), params)
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
        assert value.dtype == before[key].dtype
    assert all(p.grad is None for p in model.parameters())
    assert (scores["0.weight"][0] == 0).all()
    assert (scores["0.weight"][1:] > 0).all()
    assert scores["5.weight"].dtype == torch.float64

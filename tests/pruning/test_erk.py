"""ERK: densities follow (sum of dims)/(product of dims), none above 1, exact integer totals."""

import math

import pytest

from prunelab.pruning import erk_counts, erk_densities, keep_total

SHAPES = {
    "conv1.weight": (16, 3, 3, 3),
    "layer1.conv.weight": (64, 64, 3, 3),
    "layer2.conv.weight": (128, 64, 3, 3),
    "shortcut.weight": (128, 64, 1, 1),
    "fc.weight": (10, 128),
}
NUMEL = {n: math.prod(s) for n, s in SHAPES.items()}
N_TOTAL = sum(NUMEL.values())


def _raw(name):
    return sum(SHAPES[name]) / NUMEL[name]


def _granet_style(shapes, density):
    """ERK as GraNet's code does it: one layer (the largest raw density) made dense per pass."""
    dense = set()
    while True:
        free = [n for n in shapes if n not in dense]
        eps = (density * N_TOTAL - sum(NUMEL[n] for n in dense)) / sum(
            _raw(n) * NUMEL[n] for n in free
        )
        top = max(free, key=_raw)
        if eps * _raw(top) <= 1:
            return {n: 1.0 if n in dense else eps * _raw(n) for n in shapes}
        dense.add(top)


@pytest.mark.parametrize("density", [0.5, 0.2, 0.1, 0.05, 0.01])
def test_erk_densities_follow_the_formula(density):
    d = erk_densities(SHAPES, density)
    assert all(0 < v <= 1 for v in d.values())
    assert sum(d[n] * NUMEL[n] for n in SHAPES) == pytest.approx(density * N_TOTAL)
    free = [n for n in SHAPES if d[n] < 1]
    for a in free:
        for b in free:
            assert d[a] / d[b] == pytest.approx(_raw(a) / _raw(b))
    # A dense layer is one the formula would have pushed above 1.
    for n in SHAPES:
        if d[n] == 1.0 and free:
            assert _raw(n) >= max(_raw(f) for f in free)
    assert d == pytest.approx(_granet_style(SHAPES, density))


def test_erk_makes_small_layers_dense_at_moderate_density():
    d = erk_densities(SHAPES, 0.5)
    assert d["conv1.weight"] == 1.0 and d["fc.weight"] == 1.0
    assert d["layer2.conv.weight"] < d["layer1.conv.weight"] < 1.0
    assert erk_densities(SHAPES, 1.0) == dict.fromkeys(SHAPES, 1.0)


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0])
def test_erk_counts_are_exact(sparsity):
    counts = erk_counts(SHAPES, sparsity)
    assert sum(counts.values()) == keep_total(N_TOTAL, sparsity)
    assert all(0 <= counts[n] <= NUMEL[n] for n in SHAPES)
    if 0 < sparsity < 1:
        d = erk_densities(SHAPES, 1 - sparsity)
        for n in SHAPES:
            assert abs(counts[n] - d[n] * NUMEL[n]) < 2  # rounding, plus (1-s)N vs its rounding

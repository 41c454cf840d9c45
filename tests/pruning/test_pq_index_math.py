"""PQ index and SAP counts (Diao et al. 2023): limits, invariances, masking, closed forms.

(Named `_math` so it cannot collide with a callback test named after the method.)
"""

import math

import pytest
import torch

from prunelab.pruning import pq_index, pq_index_rows, sap_keep, sap_prune_count

PQ = [(0.5, 1.0), (1.0, 2.0), (0.3, 3.0)]


@pytest.mark.parametrize(("p", "q"), PQ)
def test_constant_vector_is_not_sparse(p, q):
    assert pq_index(torch.full((100,), -3.0), p, q) == 0.0
    assert pq_index(torch.tensor([2.5]), p, q) == 0.0


@pytest.mark.parametrize(("p", "q"), PQ)
def test_one_hot_in_a_long_vector_tends_to_one(p, q):
    values = []
    for d in [10, 1000, 100_000]:
        w = torch.zeros(d)
        w[d // 2] = 7.0
        values.append(pq_index(w, p, q))
        # Closed form: 1 - d^(1/q - 1/p).
        assert values[-1] == pytest.approx(1 - d ** (1 / q - 1 / p))
    assert values[0] < values[1] < values[2] < 1.0
    assert values[2] > 0.99


@pytest.mark.parametrize(("p", "q"), PQ)
def test_scale_invariance_and_the_norm_formula(p, q):
    w = torch.randn(500, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    index = pq_index(w, p, q)
    assert pq_index(1e-6 * w, p, q) == pytest.approx(index, abs=1e-12)
    assert pq_index(3e4 * w, p, q) == pytest.approx(index, abs=1e-12)
    a = w.double().abs()
    norm_p, norm_q = a.pow(p).sum() ** (1 / p), a.pow(q).sum() ** (1 / q)
    expected = 1 - a.numel() ** (1 / q - 1 / p) * norm_p / norm_q
    assert index == pytest.approx(float(expected), abs=1e-12)
    assert 0 < index < 1


def test_masked_entries_are_ignored():
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(20, 30, generator=gen)
    mask = torch.rand(20, 30, generator=gen) < 0.4
    noisy = w.clone()
    noisy[~mask] = 1e6  # whatever sits at pruned positions must not matter
    assert pq_index(noisy, mask=mask) == pytest.approx(pq_index(w[mask]), abs=1e-12)
    assert pq_index(w, mask=torch.zeros_like(mask)) == 0.0
    assert pq_index(torch.zeros(10)) == 0.0


def test_rows_agree_with_the_vector_index():
    gen = torch.Generator().manual_seed(2)
    w = torch.randn(6, 4, 3, 3, generator=gen)
    mask = torch.rand(6, 4, 3, 3, generator=gen) < 0.5
    mask[0] = False  # a fully pruned neuron: index 0
    w[1] = 0.0  # an all-zero neuron: index 0
    rows = pq_index_rows(w, mask, 1.0, 2.0)
    assert rows.shape == (6,) and rows.dtype == torch.float64
    for i in range(6):
        assert rows[i].item() == pytest.approx(pq_index(w[i], 1.0, 2.0, mask[i]), abs=1e-12)
    assert rows[0] == 0 and rows[1] == 0
    torch.testing.assert_close(
        pq_index_rows(w), torch.tensor([pq_index(r) for r in w], dtype=torch.float64)
    )


@pytest.mark.parametrize("eta", [0.0, 0.1, 1.0])
def test_sap_keep_closed_forms(eta):
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(1000, generator=gen).double() ** 3  # heavy-tailed, clearly compressible
    d, a = w.numel(), w.abs()
    # (p, q) = (0.5, 1): r = (1+eta)^-2 (sum sqrt|w|)^2 / sum|w|.
    r = (1 + eta) ** -2 * float(a.sqrt().sum() ** 2 / a.sum())
    assert sap_keep(d, pq_index(w, 0.5, 1.0), 0.5, 1.0, eta) in {
        math.ceil(r - 1e-9),
        math.ceil(r + 1e-9),
    }
    # (p, q) = (1, 2): r = (1+eta)^-2 ||w||_1^2 / ||w||_2^2.
    r = (1 + eta) ** -2 * float(a.sum() ** 2 / (a**2).sum())
    keep = sap_keep(d, pq_index(w, 1.0, 2.0), 1.0, 2.0, eta)
    assert keep in {math.ceil(r - 1e-9), math.ceil(r + 1e-9)}
    assert 0 < keep < d


def test_sap_prune_count_is_clamped_by_beta_and_at_zero():
    d = 1000
    # A near one-hot vector keeps ~1 weight, so gamma (1 - r/d) ~ 1: capped at beta.
    assert sap_prune_count(d, 0.999, beta=0.9) == 900
    assert sap_prune_count(d, 0.999, beta=0.5) == 500
    # A constant vector (index 0) with eta = 0 keeps all: nothing to prune.
    assert sap_prune_count(d, 0.0) == 0
    # gamma scales the prune fraction before the clamp.
    keep = sap_keep(d, 0.1)
    assert sap_prune_count(d, 0.1, gamma=1.0) == math.floor(d - keep)
    assert sap_prune_count(d, 0.1, gamma=0.5) == math.floor(0.5 * (d - keep))
    assert sap_prune_count(d, 0.1, gamma=0.0) == 0
    assert sap_prune_count(0, 0.5) == 0 and sap_keep(0, 0.5) == 0
    with pytest.raises(ValueError, match="0 < p < q"):
        sap_keep(10, 0.5, p=1.0, q=1.0)

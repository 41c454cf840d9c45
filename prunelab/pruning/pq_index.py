"""The PQ index of a weight vector, and SAP's adaptive prune count (Diao et al. 2023; ALGORITHMS.md
section 4).

For the d unpruned entries of w and 0 < p < q:
    I(w) = 1 - d^(1/q - 1/p) * ||w||_p / ||w||_q = 1 - M_p(|w|) / M_q(|w|),
M_r the power mean (mean |w|^r)^(1/r). By the power-mean inequality 0 <= I < 1; higher means
sparser, i.e. more compressible. SAP keeps r = ceil(d (1+eta)^(-q/(q-p)) (1-I)^(qp/(q-p))) weights
and prunes c = floor(d * clamp(gamma (1 - r/d), 0, beta)) of them by magnitude.
These match the authors' `make_si` and `make_bound_si` (`(1+eta)^(q/(p-q))` is the same power).
"""

from __future__ import annotations

import math

import torch


def _check_pq(p: float, q: float) -> None:
    if not 0 < p < q:
        raise ValueError(f"the PQ index needs 0 < p < q, got p={p}, q={q}")


def pq_index(
    w: torch.Tensor, p: float = 0.5, q: float = 1.0, mask: torch.Tensor | None = None
) -> float:
    """PQ index of the unpruned entries of `w` (all of them, or where `mask` is True).

    Computed in float64 on |w| divided by its maximum (I is scale invariant, and this keeps
    |w|^q from overflowing or underflowing). 0 when no entry is unpruned or all are zero (no
    magnitude to be sparse about); tiny negatives from rounding are clamped to 0.
    """
    _check_pq(p, q)
    a = w.detach().flatten().to(torch.float64).abs()
    if mask is not None:
        a = a[mask.flatten().to(a.device)]
    if a.numel() == 0:
        return 0.0
    peak = a.max()
    if peak == 0:
        return 0.0
    a = a / peak
    mean_p = a.pow(p).mean().pow(1.0 / p)
    mean_q = a.pow(q).mean().pow(1.0 / q)
    return max(0.0, 1.0 - float(mean_p / mean_q))


def pq_index_rows(
    w: torch.Tensor, mask: torch.Tensor | None = None, p: float = 0.5, q: float = 1.0
) -> torch.Tensor:
    """PQ index of each output neuron: one value per row of `w.flatten(1)` (float64, on w's device).

    Same conventions as `pq_index`, row by row.
    """
    _check_pq(p, q)
    a = w.detach().flatten(1).to(torch.float64).abs()
    keep = torch.ones_like(a, dtype=torch.bool) if mask is None else mask.flatten(1).to(a.device)
    a = a.where(keep, torch.zeros((), dtype=a.dtype, device=a.device))
    d = keep.sum(1).to(a.dtype)
    peak = a.amax(1, keepdim=True)
    a = a / torch.where(peak > 0, peak, torch.ones_like(peak))
    count = d.clamp(min=1.0)
    mean_p = (a.pow(p).sum(1) / count).pow(1.0 / p)
    mean_q = (a.pow(q).sum(1) / count).pow(1.0 / q)
    valid = (d > 0) & (mean_q > 0)
    index = 1.0 - mean_p / torch.where(valid, mean_q, torch.ones_like(mean_q))
    return torch.where(valid, index, torch.zeros_like(index)).clamp(min=0.0)


def sap_keep(d: int, index: float, p: float = 0.5, q: float = 1.0, eta: float = 0.0) -> int:
    """SAP's lower bound on the weights to keep: ceil(d (1+eta)^(-q/(q-p)) (1-I)^(qp/(q-p))).

    For (p, q) = (0.5, 1) this is (1+eta)^-2 (sum sqrt|w|)^2 / sum|w|; for (1, 2),
    (1+eta)^-2 ||w||_1^2 / ||w||_2^2. Clamped to [0, d] against float noise.
    """
    _check_pq(p, q)
    if d <= 0:
        return 0
    r = d * (1.0 + eta) ** (-q / (q - p)) * (1.0 - index) ** (q * p / (q - p))
    return min(d, max(0, math.ceil(r)))


def sap_prune_count(
    d: int,
    index: float,
    p: float = 0.5,
    q: float = 1.0,
    eta: float = 0.0,
    gamma: float = 1.0,
    beta: float = 0.9,
) -> int:
    """Weights SAP prunes from d unpruned ones: floor(d * clamp(gamma (1 - r/d), 0, beta)).

    `r = sap_keep(d, index, p, q, eta)`; `beta` caps one round at 90% of what is left. The
    product is rounded to 1e-9 before the floor, so float noise (a product a hair below an
    integer) does not lose a weight.
    """
    if d <= 0:
        return 0
    r = sap_keep(d, index, p, q, eta)
    ratio = min(max(gamma * (1.0 - r / d), 0.0), beta)
    return math.floor(round(d * ratio, 9))

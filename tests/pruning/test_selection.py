"""The one selection rule: top-k active entries by score, ties to the lower index, exact counts."""

import pytest
import torch

from prunelab.pruning import select, select_rows, top_k_mask


def _stable_top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    order = torch.sort(scores, descending=True, stable=True).indices[:k]
    mask = torch.zeros(scores.numel(), dtype=torch.bool)
    mask[order] = True
    return mask


@pytest.mark.parametrize("seed", range(5))
def test_top_k_mask_equals_a_stable_descending_sort(seed):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 4, (200,), generator=gen).float()  # heavy ties
    for k in [0, 1, 37, 50, 51, 199, 200]:
        mask = top_k_mask(scores, k)
        assert int(mask.sum()) == k
        assert torch.equal(mask, _stable_top_k(scores, k))


def test_top_k_mask_rejects_bad_input():
    with pytest.raises(ValueError):
        top_k_mask(torch.rand(5), 6)
    with pytest.raises(ValueError, match="NaN"):
        top_k_mask(torch.tensor([1.0, float("nan"), 0.0]), 1)


def test_select_keeps_exact_counts_and_never_reactivates():
    gen = torch.Generator().manual_seed(0)
    scores = {"a": torch.rand(10, 10, generator=gen), "b": torch.rand(7, generator=gen)}
    masks = {"a": torch.rand(10, 10, generator=gen) > 0.3, "b": torch.ones(7, dtype=torch.bool)}
    # Inactive entries get the best scores: they must still stay out.
    scores["a"][~masks["a"]] = 10.0
    new = select(scores, masks, {"a": 20, "b": 3})
    assert int(new["a"].sum()) == 20 and int(new["b"].sum()) == 3
    assert not (new["a"] & ~masks["a"]).any()
    kept = scores["a"][new["a"]]
    dropped = scores["a"][masks["a"] & ~new["a"]]
    assert kept.min() >= dropped.max()
    assert masks["a"].sum() > 20  # inputs untouched
    with pytest.raises(ValueError, match="only"):
        select(scores, masks, {"a": int(masks["a"].sum()) + 1})


def test_select_with_all_equal_scores_is_deterministic_by_index():
    masks = {"w": torch.ones(3, 4, dtype=torch.bool)}
    masks["w"][0, 1] = False
    new = select({"w": torch.ones(3, 4)}, masks, {"w": 5})
    expected = torch.zeros(12, dtype=torch.bool)
    expected[[0, 2, 3, 4, 5]] = True  # lowest active flat indices
    assert torch.equal(new["w"].flatten(), expected)


def test_layers_without_a_count_are_kept_as_they_are():
    masks = {"a": torch.tensor([True, False, True]), "b": torch.ones(2, dtype=torch.bool)}
    new = select({"a": torch.rand(3), "b": torch.rand(2)}, masks, {"b": 1})
    assert torch.equal(new["a"], masks["a"]) and int(new["b"].sum()) == 1


def test_select_rows_per_output_neuron():
    gen = torch.Generator().manual_seed(1)
    scores = {"conv": torch.rand(4, 2, 3, 3, generator=gen)}
    masks = {"conv": torch.ones(4, 2, 3, 3, dtype=torch.bool)}
    new = select_rows(scores, masks, {"conv": [0, 5, 18, 9]})
    rows, row_scores = new["conv"].flatten(1), scores["conv"].flatten(1)
    assert rows.sum(1).tolist() == [0, 5, 18, 9]
    for i in range(4):
        if 0 < rows[i].sum() < 18:
            assert row_scores[i][rows[i]].min() >= row_scores[i][~rows[i]].max()
    with pytest.raises(ValueError, match="row counts"):
        select_rows(scores, masks, {"conv": [1, 2]})

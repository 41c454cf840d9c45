"""EpochBatchSampler: deterministic, resumable, and sharded by rank under DDP."""

import pytest
import torch
from lightning_fabric.utilities.data import _set_sampler_epoch
from torch.utils.data import DataLoader

from prunelab.data.sampler import BatchKey, EpochBatchSampler, derive_seed


def batches(sampler: EpochBatchSampler) -> list[list[int]]:
    return [key.indices.tolist() for key in sampler]


def test_one_epoch_visits_every_index_once_in_batches():
    sampler = EpochBatchSampler(103, 10, shuffle=True, seed=0)
    keys = list(sampler)
    assert len(keys) == len(sampler) == 11
    assert [k.batch for k in keys] == list(range(11)) and {k.epoch for k in keys} == {0}
    assert [len(k.indices) for k in keys] == [10] * 10 + [3]  # last incomplete batch kept
    assert sorted(sum(batches(sampler), [])) == list(range(103))
    dropping = EpochBatchSampler(103, 10, shuffle=True, seed=0, drop_last=True)
    assert len(dropping) == len(list(dropping)) == 10
    single_tail = EpochBatchSampler(101, 10, shuffle=True)  # a 1-sample batch would break BN
    assert len(single_tail) == len(list(single_tail)) == 10
    assert len(EpochBatchSampler(101, 10, shuffle=False)) == 11  # evaluation sees every sample


def test_order_is_a_function_of_seed_and_epoch():
    a, b = (
        EpochBatchSampler(100, 8, shuffle=True, seed=1),
        EpochBatchSampler(100, 8, shuffle=True, seed=1),
    )
    assert batches(a) == batches(b) == batches(a)  # same seed and epoch, also when re-iterated
    b.set_epoch(1)
    assert batches(a) != batches(b)
    assert batches(a) != batches(EpochBatchSampler(100, 8, shuffle=True, seed=2))
    assert batches(EpochBatchSampler(100, 8, shuffle=False)) == [
        list(range(i, min(i + 8, 100))) for i in range(0, 100, 8)
    ]


def test_jumping_to_an_epoch_equals_advancing_through_the_earlier_ones():
    advanced = EpochBatchSampler(64, 16, shuffle=True, seed=5)
    for epoch in range(4):
        advanced.set_epoch(epoch)
        seen = list(advanced)
    resumed = EpochBatchSampler(64, 16, shuffle=True, seed=5)
    resumed.set_epoch(3)
    for old, new in zip(seen, resumed, strict=True):
        assert old.epoch == new.epoch == 3 and old.batch == new.batch
        assert torch.equal(old.indices, new.indices)


def test_derive_seed_separates_nearby_inputs():
    seeds = {derive_seed(s, t, e) for s in range(3) for t in range(3) for e in range(3)}
    assert len(seeds) == 27 and all(0 <= s < 2**63 for s in seeds)


@pytest.mark.parametrize("num_samples", [100, 101, 103])
def test_ddp_shards_are_disjoint_equal_and_cover_the_permutation(num_samples):
    world = 4
    shards = []
    for rank in range(world):
        sampler = EpochBatchSampler(
            num_samples, 7, shuffle=True, seed=0, rank=rank, world_size=world
        )
        sampler.set_epoch(2)
        shards.append(sum(batches(sampler), []))
        assert len(sampler) == len(list(sampler))
    single = EpochBatchSampler(num_samples, num_samples, shuffle=True, seed=0)
    single.set_epoch(2)
    permutation = batches(single)[0]
    usable = num_samples - num_samples % world  # the ragged tail is dropped
    assert [len(s) for s in shards] == [usable // world] * world  # same number of steps
    assert len(set().union(*shards)) == usable  # disjoint
    assert set().union(*shards) == set(permutation[:usable])


def test_eval_shards_cover_every_sample_exactly_once():
    shards = [
        sum(batches(EpochBatchSampler(10, 3, shuffle=False, rank=r, world_size=3)), [])
        for r in range(3)
    ]
    assert sorted(sum(shards, [])) == list(range(10))
    assert [len(s) for s in shards] == [4, 3, 3]


def test_world_is_read_from_torch_distributed_at_iteration_time(monkeypatch):
    sampler = EpochBatchSampler(20, 4, shuffle=False)  # built before the "process group"
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda: 1)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda: 2)
    assert sum(batches(sampler), []) == list(range(1, 20, 2))
    assert len(sampler) == 3


def test_lightning_reaches_set_epoch_in_both_dataloader_roles():
    as_sampler = EpochBatchSampler(10, 2, shuffle=True)
    loader = DataLoader(range(10), sampler=as_sampler, batch_size=None)
    _set_sampler_epoch(loader, 4)
    assert as_sampler.epoch == 4 and isinstance(next(iter(as_sampler)), BatchKey)
    as_batch_sampler = EpochBatchSampler(10, 2, shuffle=True, as_keys=False)
    loader = DataLoader(list(range(10)), batch_sampler=as_batch_sampler)
    _set_sampler_epoch(loader, 6)
    assert as_batch_sampler.epoch == 6
    as_batch_sampler.set_epoch(0)
    expected = list(EpochBatchSampler(10, 2, shuffle=True))
    assert [b.tolist() for b in loader] == [k.indices.tolist() for k in expected]


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError):
        EpochBatchSampler(10, 0, shuffle=True)
    with pytest.raises(ValueError):
        EpochBatchSampler(10, 2, shuffle=True, rank=0)

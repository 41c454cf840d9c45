"""The batched augmentation and normalization of the in-memory pipeline."""

import torch
import torch.nn.functional as F

from prunelab.data.memory import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    InMemoryDataset,
    crop_windows,
    make_loader,
    random_crop,
    random_flip,
)
from prunelab.data.sampler import BatchKey


def numbered_images(n: int = 16, size: int = 6) -> torch.Tensor:
    """uint8 images whose pixels are all distinct and non-zero, so any window is identifiable."""
    return (torch.arange(n * 3 * size * size) % 250 + 1).to(torch.uint8).view(n, 3, size, size)


def window_offset(padded: torch.Tensor, crop: torch.Tensor, padding: int) -> tuple[int, int] | None:
    """The (top, left) at which ``crop`` sits in ``padded``, or None if it is no window of it."""
    h, w = crop.shape[-2:]
    for top in range(2 * padding + 1):
        for left in range(2 * padding + 1):
            if torch.equal(padded[:, top : top + h, left : left + w], crop):
                return top, left
    return None


def test_crop_windows_matches_slicing_of_the_zero_padded_image():
    x = numbered_images(n=5, size=7)
    top, left = torch.tensor([0, 8, 3, 4, 0]), torch.tensor([0, 8, 5, 1, 8])
    crops = crop_windows(x, 4, top, left)
    padded = F.pad(x, (4, 4, 4, 4))
    assert crops.shape == x.shape and crops.dtype == torch.uint8
    for b in range(5):
        expected = padded[b, :, top[b] : top[b] + 7, left[b] : left[b] + 7]
        assert torch.equal(crops[b], expected)
    assert torch.equal(crops[3], crop_windows(x[3:4], 4, top[3:4], left[3:4])[0])
    assert (crops[0, :, :4, :] == 0).all() and (crops[1, :, -4:, :] == 0).all()  # zero border
    assert torch.equal(crop_windows(x, 4, torch.full((5,), 4), torch.full((5,), 4)), x)  # centre


def test_random_crop_gives_shifted_windows_with_varied_offsets():
    x = numbered_images(n=64, size=8)
    crops = random_crop(x, padding=4, gen=torch.Generator().manual_seed(0))
    padded = F.pad(x, (4, 4, 4, 4))
    offsets = [window_offset(padded[b], crops[b], 4) for b in range(64)]
    assert None not in offsets
    assert len(set(offsets)) > 20  # 81 possible offsets, drawn per sample
    again = random_crop(x, padding=4, gen=torch.Generator().manual_seed(0))
    assert torch.equal(crops, again)  # same generator state, same crops


def test_random_flip_mirrors_about_half_of_the_images():
    x = numbered_images(n=200, size=5)
    out = random_flip(x, gen=torch.Generator().manual_seed(1))
    same = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    mirrored = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x)])
    assert (same ^ mirrored).all()  # each image is either untouched or mirrored left-right
    assert 60 < int(mirrored.sum()) < 140


def test_eval_dataset_only_normalizes():
    images = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    data = InMemoryDataset(images, torch.arange(10), augment=False)
    x, y = data[BatchKey(epoch=7, batch=2, indices=torch.tensor([4, 1]))]
    mean, std = torch.tensor(CIFAR10_MEAN).view(3, 1, 1), torch.tensor(CIFAR10_STD).view(3, 1, 1)
    expected = (images[[4, 1]].float() / 255 - mean) / std
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.allclose(x, expected, atol=1e-5) and y.tolist() == [4, 1]
    assert torch.equal(data[[4, 1]][0], x)  # a plain index list works too


def test_train_batches_are_reproducible_from_seed_epoch_and_batch():
    images = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8)
    data = InMemoryDataset(images, torch.zeros(40, dtype=torch.long), augment=True, seed=3)
    key = BatchKey(epoch=2, batch=1, indices=torch.arange(8))
    assert torch.equal(data[key][0], data[key][0])
    assert not torch.equal(data[key][0], data[key._replace(batch=0)][0])
    assert not torch.equal(data[key][0], data[key._replace(epoch=3)][0])
    other_seed = InMemoryDataset(images, torch.zeros(40, dtype=torch.long), augment=True, seed=4)
    assert not torch.equal(data[key][0], other_seed[key][0])


def test_eval_loader_is_ordered_unaugmented_and_identical_across_epochs():
    images = torch.randint(0, 256, (50, 3, 32, 32), dtype=torch.uint8)
    data = InMemoryDataset(images, torch.arange(50), augment=False)
    loader = make_loader(data, batch_size=16, train=False, seed=0)
    first = list(loader)
    loader.sampler.set_epoch(5)
    later = list(loader)
    assert [len(y) for _, y in first] == [16, 16, 16, 2]  # incomplete last batch kept
    assert torch.cat([y for _, y in first]).tolist() == list(range(50))
    for (x0, y0), (x1, y1) in zip(first, later, strict=True):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)
    assert torch.equal(first[0][0], data[list(range(16))][0])

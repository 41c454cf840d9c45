"""Builds the embedded CIFAR-10 mini asset, ``prunelab/data/assets/cifar10_mini.npz``.

Takes the first ``--train`` / ``--test`` files (in sorted file-name order) of every class folder of
a CIFAR-10 ImageFolder tree, and stores their original JPEG bytes, concatenated, in one
uncompressed ``.npz`` (JPEG is already compressed; re-compressing saves nothing):

    {train,test}_bytes    uint8   all JPEG files of the split, back to back
    {train,test}_offsets  int64   (N + 1,) file i is bytes[offsets[i]:offsets[i + 1]]
    {train,test}_labels   int16   (N,) index into classes
    classes               str     sorted class folder names (torchvision's CIFAR-10 order)

Usage:
    python scripts/make_cifar10_mini.py --src ../shared/data/cifar10
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "prunelab" / "data" / "assets" / "cifar10_mini.npz"
MAX_BYTES = 8 * 2**20  # the package must stay small; the asset gets at most 8 MiB


def collect(split_dir: Path, per_class: int, classes: list[str]) -> dict[str, np.ndarray]:
    """Reads the first ``per_class`` files of each class of one split into the packed arrays."""
    blobs, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(
            p for p in (split_dir / name).iterdir() if p.suffix.lower() in (".jpg", ".jpeg")
        )
        if len(files) < per_class:
            raise SystemExit(f"{split_dir / name} has {len(files)} JPEGs, need {per_class}")
        blobs += [f.read_bytes() for f in files[:per_class]]
        labels += [label] * per_class
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    return {
        "bytes": np.frombuffer(b"".join(blobs), dtype=np.uint8),
        "offsets": offsets,
        "labels": np.asarray(labels, dtype=np.int16),
    }


def main() -> None:
    """Parses arguments, writes the asset and prints its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--src",
        type=Path,
        default=REPO.parent / "shared" / "data" / "cifar10",
        help="CIFAR-10 ImageFolder root with train/ and test/",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="asset file to write")
    parser.add_argument("--train", type=int, default=500, help="train images per class")
    parser.add_argument("--test", type=int, default=100, help="test images per class")
    args = parser.parse_args()

    classes = sorted(p.name for p in (args.src / "train").iterdir() if p.is_dir())
    arrays = {"classes": np.asarray(classes)}
    for split, per_class in (("train", args.train), ("test", args.test)):
        for key, value in collect(args.src / split, per_class, classes).items():
            arrays[f"{split}_{key}"] = value
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **arrays)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 2**20:.2f} MiB, {len(classes)} classes)")
    if size > MAX_BYTES:
        raise SystemExit(f"asset is {size} bytes, over the {MAX_BYTES}-byte limit")


if __name__ == "__main__":
    main()

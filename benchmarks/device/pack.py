"""Pack an ImageFolder tree into one file and back: a GPU machine lent without internet gets the
CIFAR-10 JPEGs (60,000 small files; a tar of them is 92 MB, this pack 57 MB) as one carried file.

    python benchmarks/device/pack.py pack ../shared/data/cifar10 build/devcarry/cifar10.pack
    python benchmarks/device/pack.py unpack build/devcarry/cifar10.pack /tmp/data/cifar10
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path


def pack(root: Path, target: Path) -> None:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "README.md")
    index, blobs = [], []
    for path in files:
        data = path.read_bytes()
        index.append([str(path.relative_to(root)), len(data)])
        blobs.append(data)
    head = json.dumps(index).encode()
    with target.open("wb") as out:
        out.write(struct.pack("<Q", len(head)))
        out.write(head)
        for data in blobs:
            out.write(data)


def unpack(source: Path, root: Path) -> None:
    with source.open("rb") as src:
        (size,) = struct.unpack("<Q", src.read(8))
        for name, length in json.loads(src.read(size)):
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(src.read(length))


if __name__ == "__main__":
    action, a, b = sys.argv[1:4]
    (pack if action == "pack" else unpack)(Path(a), Path(b))

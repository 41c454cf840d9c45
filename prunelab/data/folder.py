"""ImageFolder trees on disk: root checks, file listing, and a decode-once pixel cache."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def check_root(path: str | os.PathLike) -> None:
    """Raises ``FileNotFoundError`` naming ``path`` if it is not an existing directory.

    The config validator calls this so a mistyped data root fails before any compute.
    """
    if not Path(path).expanduser().is_dir():
        raise FileNotFoundError(f"data root not found (not a directory): {path}")


def check_images(split_dir: str | os.PathLike, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> None:
    """Raises ``FileNotFoundError`` naming the first class folder of ``split_dir`` that holds no
    image file (by suffix), so a root of text files is refused before any compute.

    Stops at each folder's first image: a scan of names only, cheap even for ImageNet.
    """
    for name in class_folders(split_dir):
        with os.scandir(Path(split_dir) / name) as entries:
            if not any(e.is_file() and e.name.lower().endswith(suffixes) for e in entries):
                shown = ", ".join(suffixes)
                raise FileNotFoundError(
                    f"no images ({shown}) in {Path(split_dir) / name}: data.root must hold "
                    "class folders of image files"
                )


def class_folders(split_dir: str | os.PathLike) -> list[str]:
    """Sorted names of the class folders of one split (sorted = torchvision's label order)."""
    return sorted(
        e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith(".")
    )


def has_splits(root: str | os.PathLike, *splits: str) -> bool:
    """Whether ``root`` holds every named split as a folder of class folders."""
    return all((Path(root) / s).is_dir() and class_folders(Path(root) / s) for s in splits)


def list_images(split_dir: str | os.PathLike) -> tuple[list[Path], list[int], list[str]]:
    """Lists ``split_dir/<class>/<file>`` in a fixed order: by class name, then file name.

    Returns:
        ``(files, labels, classes)``; ``labels[i]`` indexes ``classes``.
    """
    classes, files, labels = class_folders(split_dir), [], []
    for label, name in enumerate(classes):
        folder = Path(split_dir) / name
        names = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_SUFFIXES))
        files += [folder / f for f in names]
        labels += [label] * len(names)
    return files, labels, classes


def decode_rgb(source: str | os.PathLike | bytes) -> np.ndarray:
    """Decodes one image file (or its bytes) to ``(H, W, 3)`` uint8 RGB."""
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
        return np.asarray(image.convert("RGB"))


def decode_all(sources: list, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Decodes equally sized images into one ``(N, 3, H, W)`` uint8 tensor.

    Args:
        sources: File paths or encoded bytes.
        size: Expected ``(H, W)``; ``None`` takes the first image's size.

    Raises:
        ValueError: An image of another size (this pipeline does not resize).
    """
    first = decode_rgb(sources[0])
    h, w = size or first.shape[:2]
    out = np.empty((len(sources), h, w, 3), dtype=np.uint8)
    for i, src in enumerate(sources):
        pixels = first if i == 0 else decode_rgb(src)
        if pixels.shape[:2] != (h, w):
            raise ValueError(
                f"image {i} ({src if not isinstance(src, bytes) else 'bytes'}) is "
                f"{pixels.shape[1]}x{pixels.shape[0]}, expected {w}x{h}"
            )
        out[i] = pixels
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW


def default_cache_dir() -> Path:
    """``$PRUNELAB_CACHE``, else ``$XDG_CACHE_HOME/prunelab``, else ``~/.cache/prunelab``."""
    if "PRUNELAB_CACHE" in os.environ:
        return Path(os.environ["PRUNELAB_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "prunelab"


def cache_path(split_dir: str | os.PathLike, num_files: int, cache_dir: str | os.PathLike) -> Path:
    """Cache file of one split, keyed by its absolute path and file count.

    Adding or removing images changes the key, so a stale cache is never read.
    """
    absolute = str(Path(split_dir).expanduser().resolve())
    digest = hashlib.sha1(f"{absolute}|{num_files}".encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{Path(absolute).parent.name}-{Path(absolute).name}-{digest}.npz"


def load_split(
    split_dir: str | os.PathLike, cache_dir: str | os.PathLike | None = None
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Pixels of one small-image split, decoded on first use and read from the cache after.

    Args:
        split_dir: A folder of class folders of equally sized images.
        cache_dir: Where decoded splits are kept; ``None`` = :func:`default_cache_dir`.

    Returns:
        ``(images (N, 3, H, W) uint8, labels (N,) int64, classes)``.
    """
    files, labels, classes = list_images(split_dir)
    if not files:
        raise FileNotFoundError(f"no images under {split_dir}")
    path = cache_path(split_dir, len(files), cache_dir or default_cache_dir())
    if path.is_file():
        with np.load(path) as cached:
            return torch.from_numpy(cached["images"]), torch.from_numpy(cached["labels"]), classes
    images, targets = decode_all(files), torch.tensor(labels, dtype=torch.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: concurrent processes (DDP ranks, sweeps) never read a half-written file.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, images=images.numpy(), labels=targets.numpy())
    os.replace(tmp, path)
    return images, targets, classes

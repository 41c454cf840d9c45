"""The one loader of files a run reads: checkpoints, state_dicts, masks and weights files.

Loading never executes code. Every path goes through `load_file`: local files only (a URL is
refused: download it yourself, then pass the path), `torch.load(weights_only=True)` on the CPU
(tensors and plain containers only), and any failure becomes a `LoadError`: one line naming the
config key, the file and what is wrong with it (missing, a URL, not a PyTorch file, truncated,
holds code, another model's weights).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # http://, s3://, file://, ...


class LoadError(ValueError):
    """A file cannot be used; the message (one line) names the key, the file and the reason."""


class MissingFileError(LoadError, FileNotFoundError):
    """The named file does not exist (also a FileNotFoundError, for callers that expect one)."""


def local_file(source: str | Path, key: str = "ckpt_path") -> Path:
    """`source` as an existing local file; a URL or a missing file is refused."""
    text = str(source)
    if URL.match(text):
        raise LoadError(
            f"{key}={text} is a URL: prunelab reads local files only (a downloaded checkpoint "
            "could run code); download it, then pass its path"
        )
    path = Path(text).expanduser()
    if not path.is_file():
        raise MissingFileError(f"{key}={path} does not exist or is not a file")
    return path


def _unreadable(path: Path, key: str, exc: Exception) -> LoadError:
    """A LoadError that says what kind of file failed to load, in one line."""
    with open(path, "rb") as file:
        head = file.read(2)
    text = str(exc)
    if head == b"PK":  # torch.save's zip container
        kind = "a truncated or damaged checkpoint archive"
    elif head[:1] == b"\x80":  # a pickle (torch's legacy format, or any pickled object)
        kind = "a truncated or damaged pickle"
    else:
        kind = "not a PyTorch checkpoint"
    if "Weights only load failed" in text and kind != "not a PyTorch checkpoint":
        culprit = next((ln.strip() for ln in text.splitlines() if "Unsupported" in ln), "")
        return LoadError(
            f"{key}={path} holds Python objects other than tensors and plain values; "
            f"refusing to unpickle them (loading must never run code from a file). {culprit}"
        )
    if kind == "not a PyTorch checkpoint":  # the parser's own words say nothing more useful
        return LoadError(f"{key}={path} is {kind} (neither a torch.save archive nor a pickle)")
    detail = (text.strip().splitlines() or [""])[0].split(". ")[0]
    return LoadError(f"{key}={path} is {kind} ({type(exc).__name__}: {detail})")


def load_file(source: str | Path, key: str = "ckpt_path", *, mmap: bool = False) -> Any:
    """Read a local file with `torch.load(weights_only=True)` on the CPU.

    Args:
        source: the file (a URL is refused).
        key: the config key that named it, for the message (`model.init_from`, ...).
        mmap: map the tensors' bytes instead of reading them (for a check that reads only the
            plain values of a large checkpoint); a file that cannot be mapped is read whole.

    Raises:
        LoadError: a URL, a missing file, or a file that is not tensors and plain values.
    """
    path = local_file(source, key)
    if mmap:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # not a zip archive, or refused: the plain read below says which
            pass
    try:
        with warnings.catch_warnings():  # torch's remarks on foreign pickles; errors still raise
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    # Zip, pickle and weights-only errors have many types; for an untrusted file each means
    # the same thing to the user: this file cannot be read.
    except Exception as exc:
        raise _unreadable(path, key, exc) from exc


def state_dict_of(raw: Any, source: str | Path, key: str) -> dict[str, torch.Tensor]:
    """The network tensors of a loaded file: a plain state_dict, `{"state_dict": ...}` (Lightning),
    with prunelab's `network.` or DataParallel's `module.` prefix removed.

    Raises:
        LoadError: the content is not a mapping of names to tensors.
    """
    state = raw.get("state_dict", raw) if isinstance(raw, Mapping) else raw
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise LoadError(f"{key}={source} does not hold a state_dict (names mapped to tensors)")
    for prefix in ("network.", "module."):  # prunelab's Classifier; DataParallel / DDP
        if any(k.startswith(prefix) for k in state):
            state = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
            break
    return dict(state)


def load_state_dict(source: str | Path, key: str) -> dict[str, torch.Tensor]:
    """`state_dict_of(load_file(source))`: the network tensors a local file holds."""
    return state_dict_of(load_file(source, key), source, key)


def load_into(network: nn.Module, source: str | Path, key: str) -> None:
    """Load a file's network tensors into `network` (strict: every name and shape must fit).

    Raises:
        LoadError: the file is unreadable, or holds another model's weights.
    """
    state = load_state_dict(source, key)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(line.strip() for line in str(exc).strip().splitlines()[:3])
        raise LoadError(f"{key}={source} holds another model's weights: {detail[:400]}") from exc

"""Atomic file writes: a crash, a kill or a full disk leaves the previous file intact.

Every file a run writes goes to a temporary file in the destination folder (the same file system,
so the final `os.replace` is atomic), is flushed to disk, and only then renamed over the target.
A failed write removes its temporary file and raises `WriteError`, one line naming the folder.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: mkstemp makes 0600 files, a written file gets the usual mode
FILE_MODE = 0o666 & ~_UMASK


class WriteError(OSError):
    """A file could not be written; the previous file at that path (if any) is unchanged."""


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied"
    return exc.strerror or str(exc)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on a clean exit it is renamed onto `path`.

    Raises:
        WriteError: the folder cannot be created or the write failed (the old file is kept).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        os.chmod(name, FILE_MODE)
    except OSError as exc:
        raise WriteError(f"cannot write {path.name} in {path.parent}: {_reason(exc)}") from exc
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:  # on disk before the rename makes it the file
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise WriteError(
            f"cannot write {path.name} in {path.parent}: {_reason(exc)}; "
            "the previous file there (if any) is unchanged"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` to produce the file's content at a temporary path, then rename it."""
    with atomic_path(path) as tmp:
        write(tmp)


def write_text(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def save_torch(obj: object, path: str | Path) -> None:
    """`torch.save(obj)` to `path` atomically.

    Serialised in memory first: torch's zip writer reports a full disk as a bare RuntimeError,
    while a plain file write says ENOSPC, which `WriteError` can name.
    """
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getbuffer())

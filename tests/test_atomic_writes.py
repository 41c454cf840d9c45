"""A write that fails halfway (a full disk) leaves the previous file intact and loadable.

Failures are simulated by a writer that writes half its bytes and then raises ENOSPC, and for
real on a tiny tmpfs where this machine allows mounting one (root; skipped otherwise).
"""

import errno
import json
import subprocess
from pathlib import Path

import pytest
import torch
from cli_runs import TINY, run_cli

from prunelab.atomic import WriteError, write_text
from prunelab.checkpoint_io import SafeCheckpointIO
from prunelab.loading import load_file
from prunelab.pruning.mask_io import load_masks, save_masks
from prunelab.results import write_results


def half_then_full(real_write):
    """A Path.write_bytes that writes half of the bytes, then fails as a full disk does."""

    def write(self, data):
        real_write(self, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_failed_text_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    write_results(path, {"test/acc": 0.5, "stages": []})

    def fail(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", fail)
    with pytest.raises(WriteError, match=f"results.json in {tmp_path}: no space left"):
        write_results(path, {"test/acc": 0.9, "stages": []})
    monkeypatch.undo()
    assert json.loads(path.read_text())["test/acc"] == 0.5
    assert leftovers(tmp_path) == []


def test_failed_checkpoint_and_masks_writes_keep_the_previous_files(tmp_path, monkeypatch):
    io, path = SafeCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"epoch": 0, "state_dict": {"w": torch.ones(3)}}, path)
    masks_path = tmp_path / "level1.pt"
    save_masks(masks_path, {"w": torch.tensor([True, False, True])})
    monkeypatch.setattr(Path, "write_bytes", half_then_full(Path.write_bytes))
    with pytest.raises(WriteError, match="no space left"):
        io.save_checkpoint({"epoch": 1, "state_dict": {"w": torch.zeros(3)}}, path)
    with pytest.raises(WriteError, match="level1.pt"):
        save_masks(masks_path, {"w": torch.tensor([False, False, False])})
    monkeypatch.undo()
    assert load_file(path)["epoch"] == 0
    assert load_masks(masks_path)["w"].tolist() == [True, False, True]
    assert leftovers(tmp_path) == []


def test_a_run_whose_checkpoint_write_fails_keeps_the_last_good_one(
    run_prunelab, tmp_path, monkeypatch
):
    real_write, calls = Path.write_bytes, []

    def second_fails(self, data):
        calls.append(self)
        if len(calls) == 1:
            return real_write(self, data)
        return half_then_full(real_write)(self, data)

    monkeypatch.setattr(Path, "write_bytes", second_fails)
    run_dir = tmp_path / "run"
    with pytest.raises(WriteError, match=f"in {run_dir / 'checkpoints'}: no space left"):
        run_prunelab(["trainer.max_epochs=2"], run_dir)
    monkeypatch.undo()
    assert load_file(run_dir / "checkpoints" / "last.ckpt")["epoch"] == 0
    assert not (run_dir / "results.json").exists()
    assert leftovers(run_dir / "checkpoints") == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A tmpfs of `size` bytes mounted under tmp_path; skipped where mounting is not allowed."""
    mounts = []

    def mount(size: int) -> Path:
        folder = tmp_path / "disk"
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounts.append(folder)
        return folder

    yield mount
    for folder in mounts:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path, tiny_disk):
    # Size the disk from a real checkpoint: room for one and a half, so the second save of the
    # run cannot fit beside the first one.
    args = [*TINY, "logger=csv", "trainer.limit_val_batches=0", "data.batch_size=8"]
    probe = run_cli(*args, f"hydra.run.dir={tmp_path / 'probe'}")
    assert probe.returncode == 0, probe.stderr[-2000:]
    size = (tmp_path / "probe" / "checkpoints" / "last.ckpt").stat().st_size
    disk = tiny_disk(int(size * 1.5) + 65536)
    result = run_cli(*args, "trainer.max_epochs=3", f"hydra.run.dir={disk / 'run'}")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr[-2000:]
    assert lines[-1].startswith("prunelab: error: cannot write last.ckpt in "), lines[-1]
    assert "no space left on the device" in lines[-1]
    assert load_file(disk / "run" / "checkpoints" / "last.ckpt")["epoch"] == 0
    assert not (disk / "run" / "results.json").exists()
    write_text(disk / "small.txt", "fits")  # nothing half-written was left behind
    assert leftovers(disk / "run" / "checkpoints") == []

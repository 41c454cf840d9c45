"""prunelab-export format=safetensors: a standard file that safetensors + numpy alone turn back into
the exact weights (here of a 2:4-pruned run, whose pattern survives the export), no bigger than the
torch sparse container, written atomically, and refused in one line when it is not prunelab's."""

import errno
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file as numpy_load_file
from safetensors.torch import save_file

from prunelab.atomic import WriteError
from prunelab.config import compose
from prunelab.export import load_safetensors_sparse, read_checkpoint, restore_network
from prunelab.export import safetensors_io as io
from prunelab.export.cli_args import compose as compose_command
from prunelab.export.exporting import export
from prunelab.export.sparse import bit_equal
from prunelab.loading import LoadError
from prunelab.pruning.nm import nm_violations
from prunelab.pruning.targets import prunable_parameters
from prunelab.train import train

RUN = (
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=0",
    "test_after_fit=false",
    "trainer.progress_bar=false",
    "trainer.enable_model_summary=false",
    "data.batch_size=32",
    "logger=none",
    "pruning=global_magnitude",
    "pruning.pattern=2:4",
    "pruning.sparsity=0.5",
    "pruning.exclude=[conv1.weight]",  # 3 input channels: no groups of 4
)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """last.ckpt of one tiny ResNet-20 run pruned 2:4 from the command line's config."""
    run_dir = tmp_path_factory.mktemp("run")
    train(compose(RUN), run_dir)
    return run_dir / "checkpoints" / "last.ckpt"


def numpy_state(path) -> dict[str, np.ndarray]:
    """The file's state_dict from safetensors + numpy alone, by the documented layout."""
    parts = numpy_load_file(str(path))
    with safe_open(str(path), framework="np") as handle:
        layout = json.loads(handle.metadata()["tensors"])
    state = {}
    for name, spec in layout.items():
        if spec["encoding"] == "dense":
            state[name] = parts[name]
            continue
        values, numel = parts[f"{name}::values"], int(np.prod(spec["shape"]))
        if spec["encoding"] == "bitmask":
            bits = np.unpackbits(parts[f"{name}::bitmask"], bitorder="little")[:numel]
            positions = np.flatnonzero(bits)
        else:
            positions = parts[f"{name}::indices"].astype(np.int64)
        flat = np.zeros(numel, dtype=values.dtype)
        flat[positions] = values
        state[name] = flat.reshape(spec["shape"])
    return state


def same_bits(array: np.ndarray, tensor: torch.Tensor) -> bool:
    expected = tensor.detach().contiguous().numpy()
    return (
        array.dtype == expected.dtype
        and array.shape == expected.shape
        and (array.tobytes() == expected.tobytes())
    )


def test_safetensors_alone_rebuilds_the_exact_weights_and_the_pattern(ckpt, tmp_path):
    out = tmp_path / "model.sparse.safetensors"
    cfg = compose_command("export", [f"ckpt_path={ckpt}", "format=safetensors", f"out={out}"])
    info = export(cfg, tmp_path)
    state = restore_network(read_checkpoint(ckpt)).state_dict()
    rebuilt = numpy_state(out)
    assert list(rebuilt) == list(state)  # the layout keeps the state_dict's order
    assert all(same_bits(rebuilt[k], state[k]) for k in state)
    restored = load_safetensors_sparse(out)  # prunelab's reader agrees
    assert list(restored) == list(state) and all(bit_equal(restored[k], state[k]) for k in state)
    assert info["safetensors/round_trip"] == "bit-exact" and info["bytes"] == out.stat().st_size
    assert json.loads((tmp_path / "export.json").read_text())["format"] == "safetensors"
    network = restore_network(read_checkpoint(ckpt))
    names = prunable_parameters(network, exclude=["conv1.weight"])  # what the pattern pruned
    patterned = {k: torch.from_numpy(rebuilt[k]) != 0 for k in names}
    assert len(patterned) >= 20 and "fc.weight" in patterned
    assert nm_violations(patterned, "2:4") == dict.fromkeys(patterned, 0)
    assert any(k.endswith("::bitmask") for k in numpy_load_file(str(out)))


def test_no_bigger_than_the_torch_sparse_container(ckpt, tmp_path):
    sizes = {}
    for fmt in ("sparse", "safetensors"):
        out = tmp_path / f"model.{fmt}"
        cfg = compose_command("export", [f"ckpt_path={ckpt}", f"format={fmt}", f"out={out}"])
        sizes[fmt] = export(cfg, tmp_path)["bytes"]
    assert sizes["safetensors"] <= sizes["sparse"]


def varied_state() -> dict[str, torch.Tensor]:
    """Every encoding and the awkward values: -0.0, NaN, a 0-d int, an empty tensor."""
    gen = torch.Generator().manual_seed(0)
    dense, mid, rare = (torch.randn(40, 50, generator=gen) for _ in range(3))
    mid[torch.rand(40, 50, generator=gen) > 0.1] = 0
    rare[torch.rand(40, 50, generator=gen) > 0.005] = 0
    rare[0, 0], mid[0, 1], mid[0, 2] = -0.0, float("nan"), float("inf")
    return {
        "dense": dense,
        "mid": mid,
        "rare": rare,
        "half": mid.half(),
        "count": torch.tensor(7),
        "empty": torch.zeros(0, 3),
        "zeros": torch.zeros(5, 5, dtype=torch.float64),
    }


def test_every_encoding_round_trips_bit_exactly(tmp_path):
    state = varied_state()
    path = io.save_safetensors_sparse(state, tmp_path / "s.safetensors")
    parts = numpy_load_file(str(path))
    assert "dense" in parts and "mid::bitmask" in parts and "rare::indices" in parts
    assert parts["rare::indices"].dtype == np.int16  # 2000 positions fit 16 bits
    restored = load_safetensors_sparse(path)
    assert list(restored) == list(state)
    assert all(bit_equal(restored[k], state[k]) for k in state)
    rebuilt = numpy_state(path)
    assert all(same_bits(rebuilt[k], state[k]) for k in state)


def test_bfloat16_round_trips_through_prunelabs_reader(tmp_path):  # numpy has no bfloat16
    state = {k: v.bfloat16() if v.is_floating_point() else v for k, v in varied_state().items()}
    path = io.save_safetensors_sparse(state, tmp_path / "b.safetensors")
    restored = load_safetensors_sparse(path)
    assert all(bit_equal(restored[k], state[k]) for k in state)


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = io.save_safetensors_sparse({"w": torch.ones(3)}, tmp_path / "m.safetensors")
    before = path.read_bytes()
    real_write = Path.write_bytes

    def half_written(self, data):  # what a full disk does
        real_write(self, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_written)
    with pytest.raises(WriteError, match="cannot write m.safetensors.*no space left"):
        io.save_safetensors_sparse({"w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temp file left


def test_foreign_and_damaged_files_are_refused_in_one_line(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.ones(2)}, str(plain))
    damaged = tmp_path / "damaged.safetensors"
    layout = json.dumps({"w": {"encoding": "bitmask", "shape": [2]}})
    metadata = {"format": io.FORMAT, "version": io.VERSION, "tensors": layout}
    save_file({"w::values": torch.ones(2)}, str(damaged), metadata=metadata)
    cases = [
        (text, "not a readable safetensors file"),
        (plain, "not a prunelab sparse safetensors file"),
        (damaged, "damaged .* w: bitmask needs the tensor w::bitmask, not in the file"),
        (tmp_path / "absent.safetensors", "does not exist"),
    ]
    for path, message in cases:
        with pytest.raises(LoadError, match=message) as error:
            load_safetensors_sparse(path)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="'a::values' contains '::'"):
        io.save_safetensors_sparse({"a::values": torch.ones(1)}, tmp_path / "x.safetensors")

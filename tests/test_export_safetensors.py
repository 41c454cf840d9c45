"""prunelab-export format=safetensors: a standard file that safetensors + numpy alone turn back into
the exact weights (here of a 2:4-pruned run, whose pattern survives the export), no bigger than the
torch sparse container, written atomically, and refused in one line when it is not prunelab's."""

import json

import numpy as np
import pytest
import torch
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
    state = {k: v for k, v in parts.items() if "::" not in k}  # dense tensors
    for name in {k.split("::")[0] for k in parts if "::" in k}:
        shape = tuple(int(d) for d in parts[f"{name}::shape"])
        values, numel = parts[f"{name}::values"], int(np.prod(shape))
        if f"{name}::bitmask" in parts:
            bits = np.unpackbits(parts[f"{name}::bitmask"], bitorder="little")[:numel]
            positions = np.flatnonzero(bits)
        else:
            positions = parts[f"{name}::indices"].astype(np.int64)
        flat = np.zeros(numel, dtype=values.dtype)
        flat[positions] = values
        state[name] = flat.reshape(shape)
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
    assert set(rebuilt) == set(state)
    assert all(same_bits(rebuilt[k], state[k]) for k in state)
    assert list(load_safetensors_sparse(out)) == list(state)  # prunelab's reader keeps the order
    assert info["safetensors/round_trip"] == "bit-exact" and info["bytes"] == out.stat().st_size
    assert json.loads((tmp_path / "export.json").read_text())["format"] == "safetensors"
    patterned = {
        k: torch.from_numpy(rebuilt[k]) != 0
        for k in state
        if k.endswith("weight") and state[k].dim() in (2, 4) and k != "conv1.weight"
    }
    assert len(patterned) == 20  # 19 convs after the stem, and fc
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


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = io.save_safetensors_sparse({"w": torch.ones(3)}, tmp_path / "m.safetensors")
    before = path.read_bytes()

    def half_written(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"\x00" * 5)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io, "save_file", half_written)
    with pytest.raises(WriteError, match="cannot write m.safetensors.*no space left"):
        io.save_safetensors_sparse({"w": torch.zeros(3)}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temp file left


def test_foreign_and_damaged_files_are_refused_in_one_line(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.ones(2)}, str(plain))
    damaged = tmp_path / "damaged.safetensors"
    metadata = {"format": io.FORMAT, "version": io.VERSION, "names": '["w"]'}
    save_file({"w::values": torch.ones(2)}, str(damaged), metadata=metadata)
    cases = [
        (text, "not a readable safetensors file"),
        (plain, "not a prunelab sparse safetensors file"),
        (damaged, r"damaged .* w: neither w nor w::values \+ w::shape"),
        (tmp_path / "absent.safetensors", "does not exist"),
    ]
    for path, message in cases:
        with pytest.raises(LoadError, match=message) as error:
            load_safetensors_sparse(path)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="may not contain '::'"):
        io.save_safetensors_sparse({"a::values": torch.ones(1)}, tmp_path / "x.safetensors")

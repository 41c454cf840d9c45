"""MaskedTraining's enforcement, through real prunelab runs: zeros hold after every optimizer step
(SGD with momentum and weight decay, Adam), after a checkpoint reload, and masking touches nothing
but the prunable weights."""

from __future__ import annotations

import pytest
import torch

from prunelab.callbacks import GlobalMagnitudePruning

# Accuracy is not under test: small batches, no validation, no test pass.
FAST = ("data.batch_size=8", "trainer.limit_val_batches=0", "test_after_fit=false")
SPARSE = ("pruning=global_magnitude", "pruning.sparsity=0.8", "trainer.max_epochs=2", *FAST)


def load(run_dir):
    """(network state_dict, masks, optimizer state) of a run's last.ckpt."""
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    weights = {
        k.removeprefix("network."): v
        for k, v in ckpt["state_dict"].items()
        if k.startswith("network.")
    }
    states = [s for s in ckpt["callbacks"].values() if isinstance(s, dict) and "masks" in s]
    return weights, (states[0]["masks"] if states else None), ckpt["optimizer_states"][0]


def violations(callback, trainer) -> list[str]:
    """Every place where a pruned weight or its optimizer state is not exactly zero."""
    found = []
    for name, mask in callback.masks.items():
        param = callback._params[name]
        if torch.count_nonzero(param.detach()[~mask]):
            found.append(f"weight {name}")
        state = trainer.optimizers[0].state.get(param, {})
        for key, value in state.items():
            per_weight = torch.is_tensor(value) and value.shape == param.shape
            if per_weight and torch.count_nonzero(value[~mask]):
                found.append(f"{key} of {name}")
    return found


@pytest.fixture
def checked(monkeypatch):
    """Check the zeros before every forward and after every optimizer step of a run."""
    log = {"steps": 0, "forwards": 0, "bad": []}
    start = GlobalMagnitudePruning.on_train_batch_start
    end = GlobalMagnitudePruning.on_train_batch_end

    def on_start(self, trainer, pl_module, batch, batch_idx):
        start(self, trainer, pl_module, batch, batch_idx)
        if self.masks is not None and not all(m.all() for m in self.masks.values()):
            log["forwards"] += 1
            log["bad"] += [
                f"before forward {trainer.global_step}: {v}" for v in violations(self, trainer)
            ]

    def on_end(self, trainer, pl_module, outputs, batch, batch_idx):
        end(self, trainer, pl_module, outputs, batch, batch_idx)
        log["steps"] += 1
        log["bad"] += [f"after step {trainer.global_step}: {v}" for v in violations(self, trainer)]

    monkeypatch.setattr(GlobalMagnitudePruning, "on_train_batch_start", on_start)
    monkeypatch.setattr(GlobalMagnitudePruning, "on_train_batch_end", on_end)
    return log


@pytest.mark.parametrize(
    "optim", [("optim=sgd", "optim.weight_decay=1e-3"), ("optim=adam", "optim.weight_decay=1e-3")]
)
def test_pruned_weights_and_optimizer_state_stay_zero(run_prunelab, checked, optim):
    results, run_dir = run_prunelab([*SPARSE, *optim])
    assert checked["bad"] == []
    assert checked["steps"] == 8 and checked["forwards"] == 8  # 2 epochs x 4 batches, all sparse
    weights, masks, optimizer = load(run_dir)
    # In the saved checkpoint too: weights and every per-weight optimizer tensor.
    for name, mask in masks.items():
        assert torch.count_nonzero(weights[name][~mask]) == 0
        assert torch.count_nonzero(weights[name][mask]) == int(mask.sum())  # kept ones trained
    moments = [v for s in optimizer["state"].values() for v in s.values() if v.dim() > 1]
    assert moments, "the optimizer kept no per-weight state"
    n = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    assert kept == round(0.2 * n) and results["sparsity"] == (n - kept) / n


def test_masking_touches_only_prunable_weights(run_prunelab):
    """All-ones masks leave a run bit-identical to dense training; BN and biases have no mask."""
    _, dense_dir = run_prunelab(["pruning=none", "trainer.max_epochs=2", *FAST], run_dir=None)
    dense, _, _ = load(dense_dir)
    ones_dir = dense_dir.parent / "ones"
    run_prunelab(
        ["pruning=global_magnitude", "pruning.sparsity=0.0", "trainer.max_epochs=2", *FAST],
        ones_dir,
    )
    masked, masks, _ = load(ones_dir)
    assert all(bool(m.all()) for m in masks.values())
    assert dense.keys() == masked.keys()
    assert all(torch.equal(dense[k], masked[k]) for k in dense)
    # Masks cover conv/linear weights only: BatchNorm parameters and biases are never masked.
    assert not [n for n in masks if "bn" in n or n.endswith(".bias")]
    sparse_dir = dense_dir.parent / "sparse"
    run_prunelab([*SPARSE, "pruning.sparsity=0.95"], sparse_dir)
    sparse, masks, _ = load(sparse_dir)
    unmasked = [
        k for k in sparse if k not in masks and "running" not in k and "num_batches" not in k
    ]
    assert any(k.endswith(".bias") for k in unmasked) and any("bn" in k for k in unmasked)
    for key in unmasked:  # trained (moved from the dense run's values) and free of zeros
        assert torch.count_nonzero(sparse[key]) == sparse[key].numel(), key
        assert not torch.equal(sparse[key], dense[key]), key


def test_loaded_weights_and_momentum_are_masked_before_the_first_forward(
    run_prunelab, checked, tmp_path
):
    """A checkpoint whose pruned weights and momentum are nonzero is enforced on load."""
    _, run_dir = run_prunelab([*SPARSE, "trainer.max_epochs=1"], tmp_path / "first")
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    (state,) = [s for s in ckpt["callbacks"].values() if isinstance(s, dict) and "masks" in s]
    for name, mask in state["masks"].items():
        ckpt["state_dict"][f"network.{name}"][~mask] = 1.0
    for per_param in ckpt["optimizer_states"][0]["state"].values():
        per_param["momentum_buffer"].fill_(1.0)
    tampered = tmp_path / "tampered.ckpt"
    torch.save(ckpt, tampered)
    checked.update(steps=0, forwards=0, bad=[])
    run_prunelab([*SPARSE, f"ckpt_path={tampered}"], tmp_path / "resumed")
    assert checked["forwards"] == 4 and checked["bad"] == []

"""GraNet across runs: resume from last.ckpt is bit-exact, and without regrowth it is `gmp`."""

from __future__ import annotations

import torch

# 2 epochs of 4 steps, an update every 2 steps (the last one, step 4, at the epoch boundary).
RUN = ("trainer.max_epochs=2", "pruning=granet", "pruning.frequency=2", "pruning.sparsity=0.9")


def callback_state(ckpt, name):
    (state,) = [v for k, v in ckpt["callbacks"].items() if name in k]
    return state


def test_resume_reproduces_the_uninterrupted_run(run_prunelab, tmp_path):
    # constant lr: stopping with max_steps must not change the learning-rate schedule
    common = [*RUN, "pruning.initial_density=0.5", "sched.name=constant"]
    run_prunelab(common, tmp_path / "whole")
    run_prunelab([*common, "+trainer.max_steps=4"], tmp_path / "part")  # stops after epoch 0
    part = torch.load(tmp_path / "part/checkpoints/last.ckpt", weights_only=False)
    assert part["global_step"] == 4  # one epoch of four steps done
    ckpt = str(tmp_path / "part/checkpoints/last.ckpt")
    run_prunelab([*common, f"ckpt_path={ckpt}"], tmp_path / "resumed")
    a = torch.load(tmp_path / "whole/checkpoints/last.ckpt", weights_only=False)
    b = torch.load(tmp_path / "resumed/checkpoints/last.ckpt", weights_only=False)
    assert a["global_step"] == b["global_step"] == 8
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    sa, sb = callback_state(a, "GraNet"), callback_state(b, "GraNet")
    assert sa["masks"].keys() == sb["masks"].keys()
    assert all(torch.equal(sa["masks"][k], sb["masks"][k]) for k in sa["masks"])
    assert sa["regrow_fraction_now"] == sb["regrow_fraction_now"]
    assert sa["regrown_total"] == sb["regrown_total"] and sa["best"] == sb["best"]


def test_without_regrowth_granet_is_gmp(run_prunelab, tmp_path):
    run_prunelab([*RUN, "pruning.regrow_fraction=0"], tmp_path / "granet")
    run_prunelab([*RUN, "pruning=gmp"], tmp_path / "gmp")
    a = torch.load(tmp_path / "granet/checkpoints/last.ckpt", weights_only=False)
    b = torch.load(tmp_path / "gmp/checkpoints/last.ckpt", weights_only=False)
    ma, mb = callback_state(a, "GraNet")["masks"], callback_state(b, "GlobalMagnitude")["masks"]
    assert all(torch.equal(ma[k], mb[k]) for k in mb)
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key

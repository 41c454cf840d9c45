"""Two CPU processes (trainer=ddp_cpu) inside a two-job sweep: each job's ranks agree on masks.

The jobs run as `prunelab -m`, so Lightning's re-launch of rank 1 must run that one job (not the
whole sweep) in that job's folder, and the second job must not find the first job's process group.
"""

import json
import os
from pathlib import Path

import pytest
import torch
from cli_runs import TINY, run_cli

from prunelab.callbacks import GlobalMagnitudePruning
from prunelab.errors import ConfigError
from prunelab.pruning.allocation import keep_total

TESTS = Path(__file__).resolve().parent


class RankProbe(GlobalMagnitudePruning):
    """Gradual magnitude pruning whose ranks propose different masks (rank 1 shuffles its own),
    and that saves each rank's final masks and weights for the test to compare."""

    def set_masks(self, trainer, pl_module, masks, **kwargs):
        if trainer.global_rank:  # disagree on purpose: rank 0's decision must win everywhere
            masks = {n: m.flatten()[torch.randperm(m.numel())].view_as(m) for n, m in masks.items()}
        super().set_masks(trainer, pl_module, masks, **kwargs)

    def on_fit_end(self, trainer, pl_module):
        super().on_fit_end(trainer, pl_module)
        state = {
            "masks": {n: m.cpu() for n, m in self.masks.items()},
            "weights": {n: p.detach().cpu().clone() for n, p in self.params(pl_module).items()},
        }
        torch.save(state, Path(trainer.default_root_dir) / f"probe_rank{trainer.global_rank}.pt")


@pytest.mark.slow
def test_ddp_cpu_sweep_ranks_share_masks_and_write_one_result(tmp_path):
    args = [
        "-m",
        "trainer=ddp_cpu",
        "trainer.devices=2",
        "pruning=gmp",
        "pruning.frequency=1",  # an update at every step: four pruning decisions per job
        "pruning.sparsity=0.5,0.8",
        f"pruning._target_={__name__.rpartition('.')[2]}.RankProbe",
        *TINY,
        "logger=csv",
        f"paths.runs_dir={tmp_path}",
    ]
    # The rank probe below is imported by the DDP processes from this folder.
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    proc = run_cli(*args, PYTHONPATH=path)
    assert proc.returncode == 0, proc.stderr[-3000:]

    results = sorted(tmp_path.rglob("results.json"))
    run_dirs = sorted(p.parent.parent for p in tmp_path.rglob(".hydra/config.yaml"))
    assert [p.parent for p in results] == run_dirs and len(run_dirs) == 2  # no stray rank dirs
    assert [d.name for d in run_dirs] == ["0", "1"]
    for run_dir, target in zip(run_dirs, (0.5, 0.8)):
        ranks = [torch.load(run_dir / f"probe_rank{r}.pt") for r in (0, 1)]
        masks, weights = ranks[0]["masks"], ranks[0]["weights"]
        for name, mask in masks.items():
            assert torch.equal(mask, ranks[1]["masks"][name]), name
            assert torch.equal(weights[name], ranks[1]["weights"][name]), name
            assert not weights[name][~mask].any(), name
        n = sum(m.numel() for m in masks.values())
        kept = sum(int(m.sum()) for m in masks.values())
        assert kept == keep_total(n, target)
        written = json.loads((run_dir / "results.json").read_text())
        assert written["sparsity"] == (n - kept) / n
        assert (run_dir / "train_ddp_process_1.log").is_file()  # rank 1 ran in this job's folder


def test_in_process_ddp_is_refused_before_training(run_prunelab, tmp_path):
    # Lightning would start rank 1 by re-running this process's program (pytest): refuse instead.
    with pytest.raises(ConfigError, match="multi-process trainer"):
        run_prunelab(["trainer=ddp_cpu", "trainer.devices=2"], run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / "results.json").exists()
    assert "LOCAL_RANK" not in os.environ and "WORLD_SIZE" not in os.environ

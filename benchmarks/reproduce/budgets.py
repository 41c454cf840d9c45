"""The two budgets of the reproduction: `smoke` (minutes: checks the pipeline) and `full`
(about 2 h on 2 CPU cores: the published protocol).

One *training* is `epochs` x `batches_per_epoch` optimizer steps of `batch_size` images. An epoch
here is not a pass over CIFAR-10: each epoch draws its batches from a fresh seeded shuffle of all
50,000 training images (prunelab's sampler with `trainer.limit_train_batches`), so a short run
sees a random sample of the whole training set rather than a fixed subset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Budget:
    """Every size the protocol depends on; `describe()` is what the document quotes."""

    name: str
    seeds: tuple[int, ...]
    batch_size: int  # images per optimizer step (OpenLTH and GraNet: 128)
    batches_per_epoch: int  # optimizer steps per epoch (trainer.limit_train_batches)
    epochs: int  # one training: dense run, one IMP/SAP level, one GMP/GraNet/SNIP/PreCropping run
    finetune_epochs: int  # fine-tuning after one-shot pruning (claim 2)
    test_batches: int | None  # test batches per evaluation; None = the whole test split
    imp_levels: int  # IMP pruning levels after the dense level 0 (claims 1 and 4)
    imp_fraction: float  # share of the remaining weights pruned per IMP level
    rewind_step: int  # late rewinding point K, optimizer steps
    sap_levels: int  # SAP rounds after the dense round 0 (claim 4)
    oneshot_sparsities: tuple[float, ...]  # claim 2, fine-tuned
    collapse_grid: tuple[float, ...]  # claim 2, masks only (no training)
    gradual_sparsities: tuple[float, ...]  # claim 3
    gradual_end_epoch: int  # end of the cubic window (GraNet's CIFAR code: epoch 110 of 160)
    gradual_frequency: int  # optimizer steps between gradual updates (GraNet's dT)
    precrop_densities: tuple[float, ...]  # claim 5
    speed_reps: int  # timed repetitions of the PreCropping speed measurement

    @property
    def steps(self) -> int:
        """Optimizer steps of one training."""
        return self.epochs * self.batches_per_epoch

    def describe(self) -> dict[str, Any]:
        """The budget as plain values (plan.json, and the protocol lines of the document)."""
        return {**asdict(self), "steps": self.steps}


SMOKE = Budget(
    name="smoke",
    seeds=(0, 1),
    batch_size=128,
    batches_per_epoch=3,
    epochs=2,
    finetune_epochs=1,
    test_batches=4,
    imp_levels=2,
    imp_fraction=0.36,
    rewind_step=1,
    sap_levels=2,
    oneshot_sparsities=(0.98,),
    collapse_grid=(0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999),
    gradual_sparsities=(0.95,),
    gradual_end_epoch=1,
    gradual_frequency=2,
    precrop_densities=(0.1,),
    speed_reps=2,
)

# 288 steps of 128 images per training (0.74 of a pass over CIFAR-10's 50,000 images): the most
# that lets claims 1-5 finish in under 2 h on 2 cores, leaving a session room to write it
# up. IMP prunes 36% per level = two OpenLTH levels (0.8^2), so its 4 levels reach OpenLTH's
# densities 64, 41, 26.2 and 16.8% (the LMC paper's smallest matching ResNet-20 ticket). K = 15
# steps is 5% of a level (the LMC paper's ResNet-20 rewinds to ~3% of training). GraNet's window
# ends at 11/16 of training, the authors' 110 of 160 epochs.
FULL = Budget(
    name="full",
    seeds=(0, 1),
    batch_size=128,
    batches_per_epoch=18,
    epochs=16,
    finetune_epochs=6,
    test_batches=None,
    imp_levels=4,
    imp_fraction=0.36,
    rewind_step=15,
    sap_levels=5,
    oneshot_sparsities=(0.95, 0.98, 0.99),
    collapse_grid=(0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999),
    gradual_sparsities=(0.95, 0.98),
    gradual_end_epoch=11,
    gradual_frequency=10,
    precrop_densities=(0.1,),
    speed_reps=9,
)

# Where a GPU is lent (benchmarks/device/): twice the steps per training (576 of 128 images, 1.5
# passes over CIFAR-10), the rewind point and the gradual schedule's update interval scaled with it.
GPU = replace(FULL, name="gpu", batches_per_epoch=36, rewind_step=30, gradual_frequency=20)

BUDGETS = {b.name: b for b in (SMOKE, FULL, GPU)}


def budget(name: str, seeds: tuple[int, ...] | None = None) -> Budget:
    """The named budget, optionally with other seeds."""
    if name not in BUDGETS:
        raise ValueError(f"--budget {name!r} is not one of {', '.join(BUDGETS)}")
    chosen = BUDGETS[name]
    return replace(chosen, seeds=tuple(seeds)) if seeds else chosen


def training_text(b: Budget) -> str:
    """How long one training is, in words, for the protocol lines."""
    seeds = ", ".join(map(str, b.seeds))
    test = "the whole test split" if b.test_batches is None else f"{b.test_batches} test batches"
    return (
        f"{b.steps} optimizer steps of {b.batch_size} images per training ({b.epochs} epochs of "
        f"{b.batches_per_epoch} batches, each epoch drawn from a fresh shuffle of all training "
        f"images); evaluation on {test}; seeds {seeds}"
    )

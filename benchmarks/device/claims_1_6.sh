#!/usr/bin/env bash
# Reproduction claims 1 (lottery tickets with late rewinding, the fixed controls) and 6 (stability)
# at the `full` budget on a GPU machine lent without internet (the project's device tool), whose
# Python has torch, Lightning, torchmetrics, Pillow and matplotlib but not Hydra or Torch-Pruning.
# Carried (gitignored, made on the developer machine just before):
#   build/devcarry/src.tgz       git archive HEAD prunelab callbacks conf benchmarks pyproject.toml
#                                (a committed snapshot, whatever the working tree holds)
#   build/devcarry/cifar10.pack  python benchmarks/device/pack.py pack ../shared/data/cifar10 <it>
#   build/devcarry/site.tgz      hydra, omegaconf, antlr4, torch_pruning, rich copied from the
#                                developer venv's site-packages (with their dist-info folders)
# Writes the runs and the summaries under $OUT (default runs/device).
set -uo pipefail
OUT=$(realpath -m "${OUT:-runs/device}")
BUDGET=${BUDGET:-full}   # full: the CPU protocol's budget; gpu: twice its steps per training
CARRY=$(realpath build/devcarry)
mkdir -p "$OUT" /tmp/data /tmp/site /tmp/src
tar -xzf "$CARRY/src.tgz" -C /tmp/src
tar -xzf "$CARRY/site.tgz" -C /tmp/site
python3 /tmp/src/benchmarks/device/pack.py unpack "$CARRY/cifar10.pack" /tmp/data/cifar10
cd /tmp/src
# the installed package layout (pyproject's package-dir) in this disposable copy
cp -r callbacks prunelab/callbacks && cp -r conf prunelab/conf
export PYTHONPATH=/tmp/site:/tmp/src WANDB_MODE=disabled
python3 -c "import prunelab.callbacks, hydra, torch; print('cuda', torch.cuda.is_available())"
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); lscpu | grep "Model name"
MACHINE="one $GPU GPU (a machine lent through the project's device tool)"
python3 benchmarks/reproduce.py --budget "$BUDGET" --claims 1 --data-root /tmp/data/cifar10 \
  --root "$OUT/reproduce" --doc "$OUT/reproduction.md" --jobs 4 --threads 3 --machine "$MACHINE"
python3 benchmarks/stability_claim.py --budget "$BUDGET" --data-root /tmp/data/cifar10 \
  --root "$OUT/reproduce" --jobs 4 --threads 3 --machine "$MACHINE"

#!/usr/bin/env bash
# The whole reproduction (claims 1-6, benchmarks/reproduce.py: the repro/* sweep presets) at the
# `full` budget on a GPU machine lent without internet (the project's device tool), whose Python
# has torch, Lightning, torchmetrics, Pillow and matplotlib but not Hydra or Torch-Pruning.
# Carried (gitignored, made on the developer machine just before):
#   build/devcarry/src.tgz       git archive HEAD prunelab callbacks conf benchmarks pyproject.toml
#                                (a committed snapshot, whatever the working tree holds)
#   build/devcarry/cifar10.pack  python benchmarks/device/pack.py pack ../shared/data/cifar10 <it>
#   build/devcarry/site.tgz      hydra, omegaconf, antlr4, torch_pruning, rich, safetensors, joblib, cloudpickle and
#                                hydra_plugins (the joblib launcher) from the developer venv's
#                                site-packages (with their dist-info folders)
# The runs stay on the machine (/tmp/runs); the summaries, figures and document come back under
# $OUT (default runs/device) as doc.tgz, the runs' results.json and stability.json files as
# runs_small.tgz (the tool returns a limited number of files). RUN_S bounds the runs; whatever
# finished by then is summarised (each command resumes where it stopped). CLAIMS and SEEDS
# choose a part (e.g. CLAIMS=6 SEEDS=0,1,2,3).
set -uo pipefail
OUT=$(realpath -m "${OUT:-runs/device}")
BUDGET=${BUDGET:-full}
CLAIMS=${CLAIMS:-1,2,3,4,5,6}
SEEDS=${SEEDS:-}
RUN_S=${RUN_S:-450}
JOBS=${JOBS:-8}        # jobs at a time over all stages (16 cores: 2 torch threads each)
THREADS=${THREADS:-2}
CARRY=$(realpath build/devcarry)
mkdir -p "$OUT" /tmp/shared/data /tmp/site /tmp/src /tmp/runs
tar -xzf "$CARRY/src.tgz" -C /tmp/src
tar -xzf "$CARRY/site.tgz" -C /tmp/site
# ../shared/data/cifar10 as seen from the source copy: the commands read as on the developer machine
python3 /tmp/src/benchmarks/device/pack.py unpack "$CARRY/cifar10.pack" /tmp/shared/data/cifar10
cd /tmp/src
# the installed package layout (pyproject's package-dir) in this disposable copy
cp -r callbacks prunelab/callbacks && cp -r conf prunelab/conf
export PYTHONPATH=/tmp/site:/tmp/src WANDB_MODE=disabled
python3 -c "import prunelab.callbacks, hydra, hydra_plugins.hydra_joblib_launcher, torch; print('cuda', torch.cuda.is_available())"
# decode the JPEGs into prunelab's pixel cache once, rather than in every parallel job
python3 -c "from prunelab.data.folder import load_split as l; [l(f'../shared/data/cifar10/{s}') for s in ('train', 'test')]"
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); lscpu | grep "Model name"
MACHINE="one $GPU GPU (a machine lent through the project's device tool)"
ARGS=(--budget "$BUDGET" --claims "$CLAIMS" --root /tmp/runs --doc /tmp/doc/reproduction.md
      --jobs "$JOBS" --threads "$THREADS" --machine "$MACHINE")
[ -n "$SEEDS" ] && ARGS+=(--seeds "$SEEDS")
timeout "$RUN_S" python3 benchmarks/reproduce.py "${ARGS[@]}" 2>&1 | tee "$OUT/reproduce.log"
if ! grep -q "^wrote " "$OUT/reproduce.log"; then  # stopped early: summarise what finished
  timeout 70 python3 benchmarks/reproduce.py "${ARGS[@]}" --report-only 2>&1 | tee -a "$OUT/reproduce.log"
fi
tail -n 30 /tmp/runs/logs/*.log > "$OUT/stage_logs_tail.txt" 2>&1
tar -czf "$OUT/doc.tgz" -C /tmp/doc .
(cd /tmp/runs && find . \( -name results.json -o -name stability.json -o -name speed.json \
  -o -name 'plan-*.json' \) -print0 | tar --null -czf "$OUT/runs_small.tgz" -T -)

#!/usr/bin/env bash
# The playbook's protocol for a first max_train_steps on MNIST-1D: a constant
# learning-rate sweep without regularisation (8 trials), the step at which its
# fastest trial fits the training set (train/loss <= GOAL), then a first tuning
# round with that max_train_steps and a cosine decay (10 trials), checked by
# where its best checkpoints land (`playbook report` findings). About 2 minutes
# on 2 idle CPU cores.
#
#   experiments/scaling/training_duration.sh [RUNS_DIR] [GOAL]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-runs}"
goal="${2:-0.01}"
playbook="${PLAYBOOK:-playbook}"
"$playbook" study --config configs/studies/mnist1d_lr_sweep.py \
    --workdir "$runs/mnist1d_lr_sweep" --no_progress --no_report
"$playbook" max-train-steps "$runs/mnist1d_lr_sweep" --goal "$goal" | tee "$runs/max_train_steps.txt"
steps="$(sed -n 's/^suggested first max_train_steps: //p' "$runs/max_train_steps.txt")"
if [ -z "$steps" ]; then
  echo "no suggestion: the sweep did not fit the training set" >&2
  exit 1
fi
"$playbook" study --config configs/studies/mnist1d_first_round.py \
    --workdir "$runs/mnist1d_first_round" --config.fixed.max_train_steps="$steps" --no_progress

#!/usr/bin/env bash
# The batch-size scaling study on MNIST-1D: 7 batch sizes x 12 quasi-random
# (learning rate, momentum) points, 1000 steps each (84 trials; 12 min 46 s on
# 2 shared CPU cores, 6 min 37 s of CPU time). Then run
# experiments/scaling/batch_size_research.sh for the denser re-search and the
# analysis.
#
#   experiments/scaling/batch_size_study.sh [RUNS_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-runs}"
playbook="${PLAYBOOK:-playbook}"
time "$playbook" study --config configs/studies/mnist1d_batch_size.py \
    --workdir "$runs/mnist1d_batch_size" --no_progress --no_report

#!/usr/bin/env bash
# An independent, denser re-search of batch sizes 32, 64 and 128 (24 other
# quasi-random points each, designer seed 1; 72 trials, 5 min 50 s on 2 shared
# CPU cores), then the analysis of both studies: steps to result and regimes
# per goal, best learning rates, step vs epoch budget; figures under docs/.
# Run experiments/scaling/batch_size_study.sh first.
#
#   experiments/scaling/batch_size_research.sh [RUNS_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-runs}"
playbook="${PLAYBOOK:-playbook}"
python="${PYTHON:-python}"
time "$playbook" study --config configs/studies/mnist1d_batch_size.py:32,64,128 \
    --workdir "$runs/mnist1d_batch_size_dense" --config.seed=1 --config.budget=24 \
    --no_progress --no_report
"$python" experiments/scaling/analyze_batch_size.py "$runs/mnist1d_batch_size" \
    --also "$runs/mnist1d_batch_size_dense" --figures docs

#!/usr/bin/env bash
# Training throughput per batch size for the MNIST-1D baselines (MLP and 1-D
# CNN): doubles the batch size until the training split (3500 examples) is
# exceeded or examples/s stop growing. Under a minute on 2 CPU cores.
#
#   experiments/scaling/throughput.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
playbook="${PLAYBOOK:-playbook}"
for config in configs/mnist1d_mlp.py configs/mnist1d_cnn.py; do
  echo "== $config"
  "$playbook" batch-sizes --config "$config" --start 8 --seconds 1
done

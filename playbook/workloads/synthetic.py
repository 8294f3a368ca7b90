"""A tiny synthetic classification workload for fast tests: Gaussian clusters.

Generated from the config's data seed in milliseconds; learnable to near zero
error by a small MLP in a few hundred steps. Not a benchmark.
"""

from __future__ import annotations

import numpy as np
from ml_collections import ConfigDict

from playbook.workloads import registry
from playbook.workloads.base import ClassificationWorkload, Dataset, Split


@registry.register("synthetic")
class Synthetic(ClassificationWorkload):
    name = "synthetic"

    def load(self, config: ConfigDict) -> Dataset:
        data = config.get("data", ConfigDict())
        num_classes = int(data.get("num_classes", 4))
        dim = int(data.get("dim", 8))
        n_train = int(data.get("num_train", 512))
        n_valid = int(data.get("num_valid", 256))
        n_test = int(data.get("num_test", 256))
        noise = float(data.get("noise", 1.0))
        rng = np.random.default_rng(int(data.get("seed", 0)))
        centers = rng.normal(size=(num_classes, dim)).astype(np.float32) * 2.0

        def make(n):
            labels = rng.integers(0, num_classes, size=n).astype(np.int32)
            inputs = centers[labels] + noise * rng.normal(size=(n, dim)).astype(np.float32)
            return Split(inputs.astype(np.float32), labels)

        return Dataset(make(n_train), make(n_valid), make(n_test), num_classes)

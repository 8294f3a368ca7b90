"""The digits workload: scikit-learn's 8x8 handwritten digits, 10 classes.

1797 images shipped inside scikit-learn (`load_digits`, no download), flattened
to float32 [N, 64] and scaled from [0, 16] to [0, 1]; labels int32. A tiny,
instant real-data workload for tests and quick studies, not a benchmark.

Splits: the test split is a fixed 360 examples chosen by a permutation with a
constant seed (`TEST_SEED`), independent of `data.seed`, so every trial and
every study reports test numbers on the same examples. Validation is
`data.num_valid` (default 300) of the remaining 1437, chosen by `data.seed`.
"""

from __future__ import annotations

import numpy as np
from ml_collections import ConfigDict

from playbook.workloads import registry
from playbook.workloads.base import ClassificationWorkload, Dataset, Split, split_off_validation

NUM_CLASSES = 10
NUM_TEST = 360  # about 20% of the 1797 examples
TEST_SEED = 20240101  # fixed forever: changing it changes every reported test number


def load_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All digits as (inputs float32 [1797, 64] in [0, 1], labels int32 [1797])."""
    from sklearn.datasets import load_digits  # deferred: sklearn is slow to import

    digits = load_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int32)


@registry.register("digits")
class Digits(ClassificationWorkload):
    name = "digits"

    def load(self, config: ConfigDict) -> Dataset:
        data = config.get("data", ConfigDict())
        inputs, labels = load_arrays()
        order = np.random.default_rng(TEST_SEED).permutation(len(labels))
        test_idx, rest_idx = order[:NUM_TEST], order[NUM_TEST:]
        train, valid = split_off_validation(inputs[rest_idx], labels[rest_idx],
                                            int(data.get("num_valid", 300)),
                                            int(data.get("seed", 0)))
        test = Split(inputs[test_idx], labels[test_idx])
        return Dataset(train, valid, test, NUM_CLASSES)

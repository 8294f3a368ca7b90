"""The MNIST-1D workload: 10-class classification of length-40 1-D signals.

MNIST-1D (Greydanus & Kobak, 2020) is small enough to train in seconds on a CPU
yet separates model families (a CNN beats an MLP by a wide margin), which makes
it a good bench for studies. The data are generated offline by the `mnist1d`
package with its canonical arguments (its own seed 42), once per machine, and
cached as `.npz` (see `playbook.data.cache`). We never call the package's
`get_dataset`, which first tries an unbounded download and writes a pickle to
the working directory. Inputs are float32 [N, 40] (a model that wants a channel
axis adds it); labels are int32 in [0, 10).

Splits: validation is `data.num_valid` (default 500) of the package's 4000
training examples, chosen by `data.seed`; test is the package's 1000 test
examples, never used for selection. `data.seed` does not change the generated
examples, only the validation carve-out.
"""

from __future__ import annotations

import importlib.metadata
import random

import numpy as np
from ml_collections import ConfigDict

from playbook.data.cache import load_or_build
from playbook.workloads import registry
from playbook.workloads.base import ClassificationWorkload, Dataset, Split, split_off_validation

NUM_CLASSES = 10
_KEYS = ("x", "y", "x_test", "y_test")
# Bump when what is cached changes (dtypes, keys, generation arguments).
_FORMAT = "v1"


def generate() -> dict[str, np.ndarray]:
    """The canonical MNIST-1D arrays, generated locally, leaving global RNGs untouched."""
    import mnist1d.data  # deferred: only needed when the cache is cold

    args = mnist1d.data.get_dataset_args()
    # make_dataset reseeds numpy's and Python's global RNGs; a caller's seeded
    # global state must not depend on whether the cache was warm.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = mnist1d.data.make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {"x": data["x"].astype(np.float32), "y": data["y"].astype(np.int32),
            "x_test": data["x_test"].astype(np.float32),
            "y_test": data["y_test"].astype(np.int32)}


def cache_name() -> str:
    """The cache file's stem, naming the package version whose generator made it.

    Read from package metadata rather than by importing `mnist1d`, which pulls in
    matplotlib (~0.5 s) that a warm cache does not need.
    """
    return f"mnist1d-{importlib.metadata.version('mnist1d')}-{_FORMAT}"


def load_arrays() -> dict[str, np.ndarray]:
    """The cached (or freshly generated) arrays `x, y, x_test, y_test`."""
    return load_or_build(cache_name(), generate, _KEYS)


@registry.register("mnist1d")
class MNIST1D(ClassificationWorkload):
    name = "mnist1d"

    def load(self, config: ConfigDict) -> Dataset:
        data = config.get("data", ConfigDict())
        arrays = load_arrays()
        train, valid = split_off_validation(
            arrays["x"], arrays["y"], int(data.get("num_valid", 500)), int(data.get("seed", 0)))
        test = Split(arrays["x_test"], arrays["y_test"])
        return Dataset(train, valid, test, NUM_CLASSES)

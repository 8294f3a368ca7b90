"""Specifications of the registered workloads (mnist1d, digits) and of the
registry: shapes, dtypes, disjoint splits, the mnist1d cache, and configs that
build a model for their workload."""

from __future__ import annotations

import importlib
import random
import shutil

import jax
import mnist1d.data
import numpy as np
import pytest
from ml_collections import ConfigDict

from playbook import workloads
from playbook.errors import ConfigError
from playbook.workloads import mnist1d as mnist1d_workload


def _config(workload: str, seed: int = 0, **data) -> ConfigDict:
    return ConfigDict(dict(workload=workload, data=dict(seed=seed, **data)))


def _rows(*arrays: np.ndarray) -> list[bytes]:
    # Rows as sortable bytes: a multiset of examples, to compare splits with sources.
    return sorted(row.tobytes() for a in arrays for row in a.reshape(len(a), -1))


@pytest.fixture(scope="session")
def mnist1d_cache(tmp_path_factory):
    """A cache directory holding mnist1d, generated once per test session (~3 s)."""
    path = tmp_path_factory.mktemp("mnist1d_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLAYBOOK_DATA_DIR", str(path))
        mnist1d_workload.load_arrays()
    return path


@pytest.fixture
def mnist1d_env(mnist1d_cache, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_DATA_DIR", str(mnist1d_cache))
    return mnist1d_cache


@pytest.fixture
def count_generation(monkeypatch):
    """Counts calls to mnist1d's generator (which still runs)."""
    calls = []
    real = mnist1d.data.make_dataset

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(mnist1d.data, "make_dataset", spy)
    return calls


def test_mnist1d_splits_have_the_documented_shapes_and_classes(mnist1d_env):
    ds = workloads.get("mnist1d").load(_config("mnist1d"))
    assert ds.num_classes == 10
    assert ds.train.inputs.shape == (3500, 40) and ds.train.inputs.dtype == np.float32
    assert ds.valid.inputs.shape == (500, 40) and ds.test.inputs.shape == (1000, 40)
    for split in (ds.train, ds.valid, ds.test):
        assert split.labels.dtype == np.int32
        assert set(np.unique(split.labels)) == set(range(10))
    # The package standardises the whole dataset to zero mean and unit variance.
    assert abs(ds.train.inputs.mean()) < 0.1 and 0.9 < ds.train.inputs.std() < 1.1


def test_mnist1d_validation_is_carved_from_the_package_training_examples(mnist1d_env):
    arrays = mnist1d_workload.load_arrays()
    ds = workloads.get("mnist1d").load(_config("mnist1d", num_valid=300))
    assert len(ds.valid) == 300
    assert _rows(ds.train.inputs, ds.valid.inputs) == _rows(arrays["x"])
    np.testing.assert_array_equal(ds.test.inputs, arrays["x_test"])


def test_mnist1d_data_seed_moves_validation_but_not_test(mnist1d_env):
    a = workloads.get("mnist1d").load(_config("mnist1d", seed=0))
    b = workloads.get("mnist1d").load(_config("mnist1d", seed=1))
    assert _rows(a.valid.inputs) != _rows(b.valid.inputs)
    np.testing.assert_array_equal(a.test.inputs, b.test.inputs)


def test_mnist1d_second_load_reads_the_cache_without_generating(mnist1d_env, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("make_dataset called despite a warm cache")

    monkeypatch.setattr(mnist1d.data, "make_dataset", fail)
    ds = workloads.get("mnist1d").load(_config("mnist1d"))
    assert len(ds.train) == 3500
    assert list(mnist1d_env.glob("*.pkl")) == []  # npz only, never pickle


def test_mnist1d_corrupt_cache_is_regenerated(mnist1d_cache, tmp_path, monkeypatch,
                                              count_generation):
    cache = tmp_path / "cache"
    shutil.copytree(mnist1d_cache, cache)
    (cache / f"{mnist1d_workload.cache_name()}.npz").write_bytes(b"\x00" * 100)
    monkeypatch.setenv("PLAYBOOK_DATA_DIR", str(cache))
    arrays = mnist1d_workload.load_arrays()
    assert count_generation == [1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLAYBOOK_DATA_DIR", str(mnist1d_cache))
        np.testing.assert_array_equal(arrays["x"], mnist1d_workload.load_arrays()["x"])


def test_mnist1d_generation_leaves_global_rng_state_untouched(tmp_path, monkeypatch,
                                                              count_generation):
    monkeypatch.setenv("PLAYBOOK_DATA_DIR", str(tmp_path / "cold"))
    monkeypatch.chdir(tmp_path)  # the package's own loader would drop a pickle here
    np.random.seed(123)
    random.seed(7)
    mnist1d_workload.load_arrays()
    assert count_generation == [1]
    drawn = (np.random.rand(), random.random())
    np.random.seed(123)
    random.seed(7)
    assert drawn == (np.random.rand(), random.random())
    assert list(tmp_path.glob("*.pkl")) == []


def test_digits_splits_partition_the_dataset_scaled_to_unit_range():
    from sklearn.datasets import load_digits

    ds = workloads.get("digits").load(_config("digits"))
    assert ds.num_classes == 10
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (1137, 300, 360)
    for split in (ds.train, ds.valid, ds.test):
        assert split.inputs.dtype == np.float32 and split.inputs.shape[1:] == (64,)
        assert split.labels.dtype == np.int32
        assert split.inputs.min() == 0.0 and split.inputs.max() == 1.0
    # Together the splits are exactly the shipped images, so they are disjoint.
    full = (load_digits().data / 16.0).astype(np.float32)
    assert _rows(ds.train.inputs, ds.valid.inputs, ds.test.inputs) == _rows(full)


def test_digits_test_split_does_not_depend_on_data_seed():
    digits = workloads.get("digits")
    a = digits.load(_config("digits", seed=0))
    b = digits.load(_config("digits", seed=5))
    c = digits.load(_config("digits", seed=5, num_valid=200))
    for other in (b, c):  # the same test examples, in the same order, whatever the seed
        np.testing.assert_array_equal(a.test.inputs, other.test.inputs)
        np.testing.assert_array_equal(a.test.labels, other.test.labels)
    # Validation: 300 examples at either seed, but other ones; the same ones at the same seed.
    assert len(a.valid) == len(b.valid) == 300 and len(c.valid) == 200
    assert _rows(a.valid.inputs) != _rows(b.valid.inputs)
    assert _rows(b.valid.inputs) == _rows(digits.load(_config("digits", seed=5)).valid.inputs)
    # Train and validation together are the same examples at every seed and size.
    assert _rows(a.train.inputs, a.valid.inputs) == _rows(b.train.inputs, b.valid.inputs) == \
        _rows(c.train.inputs, c.valid.inputs)


def test_unknown_workload_error_lists_known_workloads():
    known = "cifar10, digits, imagenet, lm, mnist1d, synthetic"
    with pytest.raises(ConfigError, match=rf"unknown workload 'mnist'.*{known}"):
        workloads.get("mnist")


@pytest.mark.parametrize("name", ["mnist1d_mlp", "mnist1d_cnn", "digits_mlp"])
def test_baseline_config_builds_a_model_giving_logits_for_its_workload(name, mnist1d_env):
    config = importlib.import_module(f"configs.{name}").get_config()
    keys = set(importlib.import_module("configs.synthetic_mlp").get_config().keys())
    assert set(config.keys()) == keys  # every training key is addressable by studies
    workload = workloads.get(config.workload)
    ds = workload.load(config)
    model = workload.model(config, ds)
    x = ds.train.inputs[:4]
    logits = model.apply(model.init(jax.random.key(0), x), x)
    assert logits.shape == (4, ds.num_classes)
    assert config.max_train_steps % config.eval_every_steps == 0


def test_a_registered_workload_is_named_by_its_registration():
    """A subclass that does not set `name` would otherwise inherit its parent's, and
    errors (and its compiled programs' keys) would name the wrong workload."""
    from playbook.workloads import registry
    from playbook.workloads.base import ClassificationWorkload

    @registry.register("blobs_for_the_test")
    class Blobs(ClassificationWorkload):
        pass

    try:
        assert Blobs.name == "blobs_for_the_test" and ClassificationWorkload.name == "classification"
        assert registry.get("blobs_for_the_test").name == "blobs_for_the_test"
    finally:
        del registry._REGISTRY["blobs_for_the_test"]

"""Specifications of playbook.data: deterministic train batches by step, padded
eval batches, per-process slices of a global batch, and the dataset cache."""

from __future__ import annotations

import numpy as np
import pytest

from playbook import data
from playbook.errors import ConfigError
from playbook.workloads.base import Split


def _split(n: int, dim: int = 3) -> Split:
    # Example i has every input feature equal to i and label i, so a batch names its examples.
    inputs = np.repeat(np.arange(n, dtype=np.float32)[:, None], dim, axis=1)
    return Split(inputs, np.arange(n, dtype=np.int32))


def _batch(split: Split, batch_size: int, seed: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, labels) of the training batch at `step`, gathered as training gathers them."""
    idx = data.train_indices(len(split), batch_size, seed, step)
    return split.inputs[idx], split.labels[idx]


def test_train_batch_is_a_function_of_seed_and_step():
    split = _split(100)
    x1, y1 = _batch(split, 16, seed=3, step=11)
    x2, y2 = _batch(split, 16, seed=3, step=11)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert x1.shape == (16, 3) and y1.shape == (16,)
    np.testing.assert_array_equal(x1[:, 0], y1)  # inputs and labels stay paired
    _, other_seed = _batch(split, 16, seed=4, step=11)
    assert not np.array_equal(y1, other_seed)


def test_an_epoch_visits_each_example_at_most_once():
    split = _split(100)
    per_epoch = data.steps_per_epoch(100, 16)
    assert per_epoch == 6
    labels = np.concatenate([_batch(split, 16, 0, s)[1] for s in range(per_epoch)])
    assert len(np.unique(labels)) == per_epoch * 16  # 96 distinct; 4 left over this epoch


def test_each_epoch_has_a_new_order():
    split = _split(100)
    first = _batch(split, 16, 0, step=0)[1]
    next_epoch = _batch(split, 16, 0, step=6)[1]
    assert not np.array_equal(first, next_epoch)


def test_batch_larger_than_the_training_split_is_a_config_error():
    with pytest.raises(ConfigError, match="batch_size=64 is larger than the 50"):
        _batch(_split(50), 64, seed=0, step=0)


def test_eval_batches_cover_the_split_once_with_zero_weight_padding():
    split = _split(37)
    batches = list(data.eval_batches(split, 16))
    assert len(batches) == 3
    assert all(x.shape == (16, 3) and y.shape == (16,) and w.shape == (16,)
               for x, y, w in batches)
    weights = np.concatenate([w for _, _, w in batches])
    assert weights.dtype == np.float32 and weights.sum() == 37
    real = np.concatenate([y[w > 0] for _, y, w in batches])
    np.testing.assert_array_equal(real, np.arange(37))  # in order, each exactly once
    _, last_y, last_w = batches[-1]
    np.testing.assert_array_equal(last_w, [1] * 5 + [0] * 11)
    assert not batches[-1][0][5:].any() and not last_y[5:].any()  # padding is zeros


def test_eval_batches_of_an_exact_multiple_have_no_padding():
    weights = [w for _, _, w in data.eval_batches(_split(32), 16)]
    assert len(weights) == 2 and all(w.min() == 1.0 for w in weights)


def test_process_shards_reassemble_the_global_batch():
    x, y = _batch(_split(64), 16, seed=0, step=0)
    shards = [data.shard_for_process((x, y), i, 4) for i in range(4)]
    assert shards[1][0].shape == (4, 3) and isinstance(shards[1], tuple)
    np.testing.assert_array_equal(np.concatenate([s[0] for s in shards]), x)
    np.testing.assert_array_equal(np.concatenate([s[1] for s in shards]), y)


def test_stacked_batches_shard_along_the_batch_axis():
    xs, ys = (np.stack(a) for a in zip(*(_batch(_split(64), 16, 0, s) for s in range(3))))
    local = data.shard_for_process({"x": xs, "y": ys}, 1, 2, axis=1)
    assert local["x"].shape == (3, 8, 3)
    np.testing.assert_array_equal(local["y"], ys[:, 8:])


def test_a_batch_that_does_not_divide_over_processes_is_an_error():
    with pytest.raises(ConfigError, match="does not divide evenly over 3 processes"):
        data.shard_for_process(np.zeros((16, 2)), 0, 3)


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_DATA_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _counting_builder(calls: list):
    def build():
        calls.append(1)
        return {"a": np.arange(5, dtype=np.float32), "b": np.ones((2, 2), np.int32)}
    return build


def test_cache_builds_once_then_reads_the_npz(cache_env):
    calls = []
    first = data.load_or_build("toy", _counting_builder(calls), keys=["a", "b"])
    second = data.load_or_build("toy", _counting_builder(calls), keys=["a", "b"])
    assert len(calls) == 1
    np.testing.assert_array_equal(second["a"], np.arange(5))
    assert second["b"].dtype == np.int32 and first.keys() == second.keys()
    assert sorted(p.name for p in cache_env.iterdir()) == ["toy.npz"]  # no temporary left


def test_corrupt_cache_is_rebuilt(cache_env):
    calls = []
    data.load_or_build("toy", _counting_builder(calls), keys=["a"])
    (cache_env / "toy.npz").write_bytes(b"not a zip archive")
    rebuilt = data.load_or_build("toy", _counting_builder(calls), keys=["a"])
    assert len(calls) == 2
    np.testing.assert_array_equal(rebuilt["a"], np.arange(5))
    with np.load(cache_env / "toy.npz", allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["a"], np.arange(5))


def test_cache_missing_a_required_key_is_rebuilt(cache_env):
    calls = []
    data.load_or_build("toy", _counting_builder(calls), keys=["a"])
    np.savez(cache_env / "toy.npz", a=np.zeros(1))  # an older format without "b"
    again = data.load_or_build("toy", _counting_builder(calls), keys=["a", "b"])
    assert len(calls) == 2 and "b" in again


def test_cache_dir_defaults_to_the_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("PLAYBOOK_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.cache_dir() == tmp_path / ".cache" / "playbook"

"""Batches for the training loop, from in-memory splits, as pure numpy functions.

A train batch's indices (`train_indices`; `playbook.train.sharding` gathers the
examples) are a deterministic function of `(seed, step)`: each epoch is a fresh
permutation drawn from `default_rng([seed, epoch])` and step `s` takes slice
`s % steps_per_epoch` of it, so a resumed trial sees exactly the batches it
would have seen without stopping, with no iterator state to checkpoint. The
`len(split) % batch_size` examples left over by an epoch's permutation are
skipped for that epoch (different ones each epoch). Eval batches cover a split
once, in order, padding the last batch with weight-0 examples so every batch
has the same shape (one compilation). This module does no device placement;
`shard_for_process` only slices the host-local part of a global batch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from playbook.errors import ConfigError

if TYPE_CHECKING:
    # Only for annotations: importing playbook.workloads here would be circular,
    # since workloads import the dataset cache from this package.
    from playbook.workloads.base import Split


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Full batches in one pass over `num_examples`; a ConfigError if there are none."""
    if batch_size <= 0:
        raise ConfigError(f"batch_size={batch_size} must be positive")
    steps = num_examples // batch_size
    if steps == 0:
        raise ConfigError(f"batch_size={batch_size} is larger than the {num_examples} training "
                          f"examples; use a batch_size of at most {num_examples}")
    return steps


@functools.lru_cache(maxsize=8)
def _permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    # Cached because consecutive steps share an epoch; read-only so no caller
    # can corrupt the cached order.
    order = np.random.default_rng([seed, epoch]).permutation(num_examples)
    order.flags.writeable = False
    return order


def train_indices(num_examples: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Indices into the training split of the batch at `step`, shape [batch_size]."""
    if step < 0:
        raise ValueError(f"step={step} must be non-negative")
    per_epoch = steps_per_epoch(num_examples, batch_size)
    epoch, i = divmod(step, per_epoch)
    return _permutation(num_examples, seed, epoch)[i * batch_size:(i + 1) * batch_size]


def eval_batches(split: Split, batch_size: int
                 ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(inputs, labels, weights) covering `split` once in order; weights are float32
    1 for real examples and 0 for the zero padding that fills the last batch."""
    if batch_size <= 0:
        raise ConfigError(f"eval batch size {batch_size} must be positive")
    n = len(split)
    for start in range(0, n, batch_size):
        inputs = split.inputs[start:start + batch_size]
        labels = split.labels[start:start + batch_size]
        real = len(labels)
        weights = np.ones(batch_size, np.float32)
        if real < batch_size:
            inputs = _pad(inputs, batch_size)
            labels = _pad(labels, batch_size)
            weights[real:] = 0.0
        yield inputs, labels, weights


def _pad(x: np.ndarray, size: int) -> np.ndarray:
    padded = np.zeros((size, *x.shape[1:]), x.dtype)
    padded[:len(x)] = x
    return padded


def shard_for_process(batch: Any, process_index: int, process_count: int, axis: int = 0) -> Any:
    """This process's contiguous slice of a global batch along `axis` (the batch axis:
    0 for `eval_batches`, 1 for steps stacked ahead of it, as `train.sharding` does).

    `batch` is an array or a (possibly nested) tuple/list/dict of arrays sharing that
    axis. Each of `process_count` hosts gets an equal part, so the global batch size
    must divide evenly.
    """
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index={process_index} not in [0, {process_count})")
    if isinstance(batch, dict):
        return {k: shard_for_process(v, process_index, process_count, axis)
                for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard_for_process(v, process_index, process_count, axis)
                           for v in batch)
    size = batch.shape[axis]
    if size % process_count:
        raise ConfigError(f"global batch of {size} does not divide evenly over "
                          f"{process_count} processes; use a multiple of {process_count}")
    local = size // process_count
    index = [slice(None)] * batch.ndim
    index[axis] = slice(process_index * local, (process_index + 1) * local)
    return batch[tuple(index)]

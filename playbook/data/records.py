"""Splits read on demand from a random-access source, for datasets too large to
hold in memory (ImageNet, LM1B) or generated per example (synthetic mode).

A `RecordSplit` looks to the training loop like an in-memory `Split`: `len()`,
and `split.inputs[idx]` / `split.labels[idx]` for any index array or slice,
with `.shape` and `.dtype`. Reading `inputs[idx]` decodes and preprocesses the
records `idx` (in a thread pool) and keeps them, so the `labels[idx]` that
follows costs nothing. Because the loop picks the examples of a step from
`(seed, step)` alone (`playbook.data.batching`) and each process slices its own
part of the indices before reading (`playbook.train.sharding`), every host
reads only its shard and a resumed trial reads exactly the same examples.

Random augmentation is seeded by the split's seed and the indices being read:
the same step always gets the same crops and flips, and an example gets new
ones each time it is drawn into a different batch. No iterator state exists to
checkpoint. This module does not know what a record holds: a workload gives
the `example` function that turns one record into (input, label).
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

# example(record, rng) -> (input, label); rng is None when the split is not augmented.
ExampleFn = Callable[[Any, "np.random.Generator | None"], tuple[np.ndarray, Any]]


class RecordSplit:
    """The examples `source[indices[i]]` of a random-access `source`, made by `example`."""

    def __init__(self, source: Sequence, example: ExampleFn, input_shape: tuple[int, ...],
                 input_dtype: Any, label_shape: tuple[int, ...] = (), label_dtype: Any = np.int32,
                 indices: np.ndarray | None = None, augment_seed: int | None = None,
                 num_workers: int = 0):
        self.source, self.example = source, example
        self.indices = None if indices is None else np.asarray(indices)
        self.augment_seed = augment_seed
        self.num_workers = num_workers or min(16, os.cpu_count() or 1)
        self.inputs = _Column(self, 0, (len(self), *input_shape), np.dtype(input_dtype))
        self.labels = _Column(self, 1, (len(self), *label_shape), np.dtype(label_dtype))
        self._last: tuple[bytes, tuple[np.ndarray, np.ndarray]] | None = None
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def __len__(self) -> int:
        return len(self.source) if self.indices is None else len(self.indices)

    def take(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(inputs [*idx.shape, ...], labels [*idx.shape, ...]) of positions `idx`."""
        idx = np.asarray(idx, np.int64)
        key = idx.tobytes() + str(idx.shape).encode()
        with self._lock:
            if self._last is not None and self._last[0] == key:
                return self._last[1]
        flat = idx.reshape(-1)
        if flat.size and (flat.min() < -len(self) or flat.max() >= len(self)):
            raise IndexError(f"index out of range for a split of {len(self)} examples")
        records = flat % len(self) if self.indices is None else self.indices[flat % len(self)]
        rngs = self._rngs(flat)
        pairs = self._map(lambda i: self.example(self.source[int(records[i])], rngs[i]),
                          range(len(flat)))
        inputs = np.stack([np.asarray(p[0], self.inputs.dtype) for p in pairs]) if pairs else \
            np.zeros((0, *self.inputs.shape[1:]), self.inputs.dtype)
        labels = np.asarray([p[1] for p in pairs], self.labels.dtype).reshape(
            (len(flat), *self.labels.shape[1:]))
        for column, value in ((self.inputs, inputs), (self.labels, labels)):
            if value.shape[1:] != column.shape[1:]:
                raise ValueError(f"examples have shape {value.shape[1:]}, expected "
                                 f"{column.shape[1:]}")
        out = (inputs.reshape(*idx.shape, *inputs.shape[1:]),
               labels.reshape(*idx.shape, *labels.shape[1:]))
        with self._lock:
            self._last = (key, out)
        return out

    def _rngs(self, flat: np.ndarray) -> list:
        if self.augment_seed is None:
            return [None] * len(flat)
        batch = zlib.crc32(flat.tobytes())
        return [np.random.default_rng([self.augment_seed, batch, i]) for i in range(len(flat))]

    def _map(self, fn, items) -> list:
        items = list(items)
        if self.num_workers <= 1 or len(items) <= 1:
            return [fn(i) for i in items]
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.num_workers)
        return list(self._pool.map(fn, items))


class _Column:
    """`inputs` or `labels` of a `RecordSplit`, indexable like a numpy array."""

    def __init__(self, split: RecordSplit, which: int, shape: tuple[int, ...], dtype: np.dtype):
        self._split, self._which = split, which
        self.shape, self.dtype = shape, dtype
        self.ndim = len(shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            key = np.arange(*key.indices(len(self)))
        elif isinstance(key, (int, np.integer)):
            return self._split.take(np.asarray([key]))[self._which][0]
        return self._split.take(np.asarray(key))[self._which]

    def __array__(self, dtype=None, copy=None):
        values = self[:]
        return values if dtype is None else values.astype(dtype)


def carve(num_examples: int, num_valid: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid) record indices: `num_valid` records chosen by `seed` for validation,
    the rest, in order, for training (as `workloads.base.split_off_validation`)."""
    if not 0 < num_valid < num_examples:
        raise ValueError(f"num_valid={num_valid} must be in (0, {num_examples})")
    order = np.random.default_rng(seed).permutation(num_examples)
    dtype = np.int32 if num_examples < 2 ** 31 else np.int64
    return np.sort(order[num_valid:]).astype(dtype), np.sort(order[:num_valid]).astype(dtype)

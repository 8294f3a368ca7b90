"""Data parallelism for one trial: a 1-D device mesh, batch placement, multi-host set-up.

Every device of every process joins one `jax.sharding.Mesh` along a single
`'data'` axis. Parameters and optimizer state are replicated (or, with
`param_sharding='fsdp'`, split over the same axis: `state_shardings`); each
global batch is split along its batch axis, so `jax.jit` (GSPMD) inserts the
gradient all-reduce. Each process supplies only its own slice of a global batch
(`jax.make_array_from_process_local_data`); on one host that slice is the whole
batch. This module places arrays and checks batch sizes; it does not pick the
examples (`playbook.data.batching`) or run steps (`playbook.train.loop`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from playbook.data import batching
from playbook.errors import ConfigError

AXIS = "data"

log = logging.getLogger(__name__)
_initialized = False


def initialize_distributed(enabled: bool) -> None:
    """`jax.distributed.initialize()` once per process when `enabled` (config key
    `distributed`); the cluster (SLURM, TPU pods, ...) is auto-detected by JAX."""
    global _initialized
    if enabled and not _initialized:
        jax.distributed.initialize()
        _initialized = True
        log.info("process %d of %d, %d local of %d devices", jax.process_index(),
                 jax.process_count(), jax.local_device_count(), jax.device_count())


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over `devices` (default: every device of every process) named 'data'."""
    devices = jax.devices() if devices is None else list(devices)
    # Mesh() rather than jax.make_mesh: the latter defaults to Explicit axes, which
    # would make sharding part of every array's type; here GSPMD propagation suffices.
    return Mesh(np.asarray(devices), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


# Config key `param_sharding`: how parameters and optimizer state lie on the mesh.
PARAM_SHARDINGS = ("replicated", "fsdp")
# Smaller leaves stay replicated under fsdp: gathering them would cost more than they take.
FSDP_MIN_SIZE = 2 ** 12


def param_sharding(config: Any) -> str:
    """`config.param_sharding`: 'replicated' (default, plain data parallelism) or 'fsdp'."""
    mode = config.get("param_sharding", "replicated")
    if mode not in PARAM_SHARDINGS:
        raise ConfigError(f"param_sharding '{mode}' is unknown; valid: {', '.join(PARAM_SHARDINGS)}")
    return mode


def fsdp_sharding(shape: Sequence[int], mesh: Mesh) -> NamedSharding:
    """Splits the largest axis of `shape` that divides evenly over the mesh (the last
    such on ties); replicated for a leaf below `FSDP_MIN_SIZE` or with no such axis."""
    if int(np.prod(shape)) < FSDP_MIN_SIZE:
        return replicated(mesh)
    candidates = [(size, i) for i, size in enumerate(shape) if size % mesh.size == 0]
    if not candidates:
        return replicated(mesh)
    axis = max(candidates)[1]
    spec = [None] * len(shape)
    spec[axis] = AXIS
    return NamedSharding(mesh, P(*spec))


def state_shardings(abstract_state: dict, mesh: Mesh, mode: str) -> dict:
    """Shardings of a train state (`playbook.train.state.TrainState.checkpoint()`, as shapes).

    'fsdp' (fully sharded data parallelism, as ZeRO-3): parameters and optimizer
    state are split over the 'data' axis (`fsdp_sharding`) and jit (GSPMD) gathers
    them for each step and reduce-scatters the gradients; each device holds
    1/devices of them. Model state (batch statistics) and scalars stay replicated.
    """
    out = {k: jax.tree.map(lambda _: replicated(mesh), v) for k, v in abstract_state.items()}
    if mode == "fsdp":
        for key in ("params", "opt_state"):
            out[key] = jax.tree.map(lambda x: fsdp_sharding(x.shape, mesh), abstract_state[key])
    return out


def batch_sharding(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
    """Splits axis `batch_axis` over the mesh: 0 for one batch, 1 for stacked [steps, B, ...]."""
    return NamedSharding(mesh, P(*([None] * batch_axis), AXIS))


def is_main_process() -> bool:
    """Only process 0 logs and writes files other than checkpoints."""
    return jax.process_index() == 0


def check_batch_size(batch_size: int, num_devices: int) -> None:
    """ConfigError unless `batch_size` divides evenly over `num_devices` devices."""
    n = num_devices
    if batch_size <= 0 or batch_size % n:
        lower, upper = (batch_size // n) * n, -(-batch_size // n) * n
        options = " or ".join(str(b) for b in sorted({lower, upper}) if b > 0)
        raise ConfigError(f"batch_size={batch_size} does not divide evenly over {n} devices; "
                          f"use a multiple of {n} (e.g. {options})")


def eval_batch_size(batch_size: int, eval_batch_size: int, num_devices: int) -> int:
    """`eval_batch_size` (0 means `batch_size`), never below `batch_size`, rounded up to a
    multiple of `num_devices` so that every device gets an equal share."""
    size = max(int(eval_batch_size) or int(batch_size), int(batch_size))
    return -(-size // num_devices) * num_devices


def put_replicated(tree: Any, mesh: Mesh) -> Any:
    """`tree` (host values equal on every process) as arrays replicated over the mesh."""
    sharding = replicated(mesh)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree)


def put_batch(local: Any, mesh: Mesh, batch_axis: int = 0) -> Any:
    """Global arrays from this process's slice `local` of a batch split along `batch_axis`.

    The global shape is the local one with `batch_axis` multiplied by the process
    count: every process contributes an equal, contiguous slice (see
    `playbook.data.batching.shard_for_process`).
    """
    sharding = batch_sharding(mesh, batch_axis)
    count = jax.process_count()

    def put(x):
        x = np.asarray(x)
        shape = list(x.shape)
        shape[batch_axis] *= count
        return jax.make_array_from_process_local_data(sharding, x, tuple(shape))

    return jax.tree.map(put, local)


def stacked_train_batches(split: Any, batch_size: int, seed: int, start_step: int,
                          num_steps: int, mesh: Mesh) -> tuple[jax.Array, jax.Array]:
    """Global (inputs [num_steps, B, ...], labels [num_steps, B]) of training steps
    [start_step, start_step + num_steps), split over `mesh` along B."""
    idx = np.stack([batching.train_indices(len(split), batch_size, seed, s)
                    for s in range(start_step, start_step + num_steps)])
    idx = batching.shard_for_process(idx, jax.process_index(), jax.process_count(), axis=1)
    return put_batch((split.inputs[idx], split.labels[idx]), mesh, batch_axis=1)


def eval_batches(split: Any, batch_size: int, mesh: Mesh) -> list[tuple[jax.Array, ...]]:
    """(inputs, labels, weights) batches covering `split` once, the last zero-padded with
    weight 0 (`batching.eval_batches`), each split over `mesh`.

    A split read on demand (`playbook.data.records.RecordSplit`, which has `take`)
    gives `OnDemandEvalBatches` instead: placed one batch at a time, so a large
    validation split never sits on the devices whole."""
    if hasattr(split, "take"):
        return OnDemandEvalBatches(split, batch_size, mesh)
    batches = []
    for batch in batching.eval_batches(split, batch_size):
        local = batching.shard_for_process(batch, jax.process_index(), jax.process_count())
        batches.append(put_batch(local, mesh))
    return batches


class OnDemandEvalBatches:
    """Evaluation batches of a split read on demand, re-iterable: each iteration reads
    and places the batches in order, each process reading only its own examples.
    Padding repeats example 0 with weight 0."""

    def __init__(self, split: Any, batch_size: int, mesh: Mesh):
        self.split, self.batch_size, self.mesh = split, batch_size, mesh

    def __len__(self) -> int:
        return -(-len(self.split) // self.batch_size)

    def __iter__(self):
        n = len(self.split)
        for start in range(0, n, self.batch_size):
            idx = np.arange(start, start + self.batch_size)
            weights = (idx < n).astype(np.float32)
            idx = np.where(idx < n, idx, 0)
            idx, weights = batching.shard_for_process(
                (idx, weights), jax.process_index(), jax.process_count())
            inputs, labels = self.split.take(idx)
            yield put_batch((inputs, labels, weights), self.mesh)

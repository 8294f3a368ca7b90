"""A trial's config resolved before anything trains: `setup(config) -> TrialSetup`.

`setup` loads the workload's data, builds the model and optimizer, checks the
batch size against the devices and the step counts against each other, and
picks the scan length (`steps_per_dispatch`). A ConfigError here means nothing
has been written. It also places a trial's data on the devices
(`train_batches`, `eval_batches`) and points JAX's persistent compilation cache
somewhere (`use_compilation_cache`). It does not compile (`programs`), train
(`driver`) or record anything (`bookkeeping`).

Steps per dispatch. Between log points, `steps_per_dispatch` steps run as one
`lax.scan` over a stacked batch, which saves per-step dispatch and host cost
on small models (benchmarks/steps_per_dispatch.py). The scan length is the
largest divisor of gcd(log_every_steps, eval_every_steps, max_train_steps) not
above the setting, so logs and evaluations fall exactly on their steps and one
program serves the whole trial. The default (0, automatic) is 32, or 1 (no
loop) on CPU for models with convolutions.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import jax
import numpy as np
from flax import linen as nn
from ml_collections import ConfigDict

from playbook import config as config_lib
from playbook import workloads
from playbook.data import batching
from playbook.errors import ConfigError
from playbook.goal import validation_metric
from playbook.train import checkpoint_policy, divergence, optimizers, sharding

# Measured by benchmarks/steps_per_dispatch.py on a 2-core CPU (see its docstring):
# fusing 32 steps doubles an MLP's steps/s; a CNN on XLA:CPU is ~8x slower in a loop.
DEFAULT_STEPS_PER_DISPATCH = 32
DEFAULT_DIVERGENCE_FACTOR = divergence.DEFAULT_FACTOR


@dataclasses.dataclass(frozen=True, eq=False)
class TrialSetup:
    """A trial's config resolved and validated: everything fixed before training starts."""

    config: ConfigDict
    workload: Any
    dataset: workloads.Dataset
    model: nn.Module
    optimizer: optimizers.Optimizer
    mesh: jax.sharding.Mesh
    metric: str  # 'valid/<name>'
    goal: str
    batch_size: int
    eval_batch_size: int
    max_train_steps: int
    eval_every_steps: int
    log_every_steps: int
    steps_per_dispatch: int  # the scan length actually used
    seed: int
    divergence_factor: float
    keep_best: int
    save_policy: checkpoint_policy.Policy = checkpoint_policy.Policy()


def setup(config: ConfigDict) -> TrialSetup:
    """Resolves `config` into a `TrialSetup`; ConfigError (nothing written) if anything is off."""
    workload = workloads.get(config_lib.get(config, "workload"))
    dataset = workload.load(config)
    mesh = sharding.make_mesh()
    batch_size = int(config_lib.get(config, "batch_size"))
    sharding.check_batch_size(batch_size, mesh.size)
    batching.steps_per_epoch(len(dataset.train), batch_size)  # ConfigError if too large
    steps = {k: int(config_lib.get(config, k))
             for k in ("max_train_steps", "eval_every_steps", "log_every_steps")}
    for key, value in steps.items():
        if value <= 0:
            raise ConfigError(f"{key}={value} must be positive")
    metric, goal = _metric_and_goal(config, workload)
    sharding.param_sharding(config)  # ConfigError if unknown
    model = workload.model(config, dataset)
    wanted = int(config.get("steps_per_dispatch", 0))
    if wanted < 0:
        raise ConfigError(f"steps_per_dispatch={wanted} must be positive (or 0 for automatic)")
    wanted = wanted or auto_steps_per_dispatch(model, dataset.train.inputs[:1])
    return TrialSetup(
        config=config, workload=workload, dataset=dataset,
        model=model, optimizer=optimizers.create(config), mesh=mesh,
        metric=metric, goal=goal, batch_size=batch_size,
        eval_batch_size=sharding.eval_batch_size(batch_size, int(config.get("eval_batch_size", 0)),
                                                 mesh.size),
        max_train_steps=steps["max_train_steps"], eval_every_steps=steps["eval_every_steps"],
        log_every_steps=steps["log_every_steps"],
        steps_per_dispatch=dispatch_length(wanted, *steps.values()),
        seed=int(config_lib.get(config, "seed")),
        divergence_factor=float(config.get("divergence_factor", DEFAULT_DIVERGENCE_FACTOR)),
        keep_best=int(config.get("checkpoint", ConfigDict()).get("keep_best", 1)),
        save_policy=checkpoint_policy.Policy.from_config(config.get("checkpoint", None)))


def _metric_and_goal(config: ConfigDict, workload) -> tuple[str, str]:
    metric = config.get("metric", None) or f"valid/{workload.default_metric}"
    return metric, validation_metric(metric, workload.metric_goals, workload.name).direction


def auto_steps_per_dispatch(model: nn.Module, example: np.ndarray) -> int:
    """`DEFAULT_STEPS_PER_DISPATCH`, but 1 on CPU for a model with convolutions:
    XLA:CPU runs a convolution inside a loop (even a one-step scan) about 8x
    slower than on its own (benchmarks/steps_per_dispatch.py)."""
    if jax.default_backend() != "cpu":
        return DEFAULT_STEPS_PER_DISPATCH
    params = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x), example)
    jaxpr = jax.make_jaxpr(lambda p, x: model.apply(p, x))(params, example)
    return 1 if "conv_general_dilated" in str(jaxpr) else DEFAULT_STEPS_PER_DISPATCH


def dispatch_length(wanted: int, max_train_steps: int, eval_every: int, log_every: int) -> int:
    """The largest divisor of gcd(max_train_steps, eval_every, log_every) not above `wanted`."""
    g = math.gcd(max_train_steps, eval_every, log_every)
    return max(d for d in range(1, min(wanted, g) + 1) if g % d == 0)


# -- data on devices ------------------------------------------------------------------------


def train_batches(trial: TrialSetup, start_step: int, num_steps: int
                  ) -> tuple[jax.Array, jax.Array]:
    """The global batches of steps [start_step, start_step + num_steps), stacked and
    split over the mesh (see `sharding.stacked_train_batches`)."""
    return sharding.stacked_train_batches(trial.dataset.train, trial.batch_size, trial.seed,
                                          start_step, num_steps, trial.mesh)


def eval_batches(trial: TrialSetup, split: str = "valid") -> list[tuple[jax.Array, ...]]:
    """The whole `split` as padded batches (weight 0 for padding), placed on the mesh."""
    return sharding.eval_batches(getattr(trial.dataset, split), trial.eval_batch_size,
                                 trial.mesh)


# -- the persistent compilation cache ---------------------------------------------------------

# Programs that compile faster than this are not worth a disk entry (XLA:CPU
# compiles the small ones in milliseconds).
CACHE_MIN_COMPILE_SECONDS = 0.2
CACHE_MAX_BYTES = 2 << 30


def use_compilation_cache(directory: str | os.PathLike) -> None:
    """JAX's persistent compilation cache in `directory`, for this process: a later
    process (another worker, a resumed study) loads a compiled program instead of
    compiling it. Set once per process; the first directory given stays."""
    if jax.config.jax_compilation_cache_dir:
        return
    os.makedirs(directory, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", os.fspath(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # Least recently used entries go beyond this size (JAX's default is no limit).
    jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)

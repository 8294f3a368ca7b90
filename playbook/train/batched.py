"""Several trials in one compiled program: `train_group(configs, workdirs)`.

Trials of a study that share their program structure (workload, model, input
shapes, optimizer `Structure`, batch sizes, step counts; see `group_key`)
differ only in scalar hyperparameters and seeds, which the training step
takes as arrays (playbook.train.optimizers). `jax.vmap` over parameters,
optimizer state, hyperparameters, random keys and, when seeds differ, data
order trains K of them at once: small models that leave a device (or the
CPU's vector units) mostly idle get K trials for little more than the cost
of one, and the program compiles once for all K.

Each member is a trial as if run alone by `playbook.train.loop`: its own
metrics.jsonl, best-plus-latest checkpoints, result.json and status, the
same batches and the same initialisation. A member that diverges (or
collapses, playbook.train.collapse) is recorded `diverged` with its reason
at once and masked out: its state stops changing and
the others go on. If the group cannot run together (members at different
checkpointed steps, a member whose config fails, any error), its members
run one after another through `loop.train_and_evaluate`, which resumes each
from its own checkpoints: a group never loses a finished member or its
progress.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict

from playbook import config as config_lib
from playbook import external, trial_files
from playbook.data import batching
from playbook.errors import ConfigError, storage_fault
from playbook.train import driver, evaluation, loop, optimizers, programs, sharding
from playbook.train.bookkeeping import TrialRun
from playbook.train.setup import TrialSetup
from playbook.train.state import TrainState
from playbook.trial_files import TrialResult

log = logging.getLogger(__name__)

# Keys that may differ between members of a group: they enter the step as arrays
# (optimizer and schedule scalars, seed) or only steer the host side.
PER_TRIAL_KEYS = frozenset(optimizers.HPARAMS) | {
    "warmup_fraction", "seed", "divergence_factor", "checkpoint.keep_best", "distributed",
    "stop_collapsed"}


def group_key(config: Mapping[str, Any] | ConfigDict) -> str | None:
    """A string equal for two trial configs exactly when they can train in one program,
    or None for a config that trains alone (its own `trainer`'s trials).

    Pure Python on the config (no JAX, no data): the study runner groups pending
    trials by it. Everything but `PER_TRIAL_KEYS` must match, and gradient
    clipping must be on in both or off in both (it changes the program).
    """
    if external.trainer_of(config):
        return None
    flat = config_lib.flatten(config_lib.to_dict(config) if isinstance(config, ConfigDict)
                              else config)
    fixed = {k: v for k, v in flat.items() if k not in PER_TRIAL_KEYS}
    fixed["<clip>"] = float(flat.get("grad_clip_norm", 0) or 0) > 0
    return json.dumps(fixed, sort_keys=True, default=str)


# -- compiled programs ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GroupPrograms:
    init: Callable[..., TrainState]  # (rngs [K], hp [K]) -> state [K]
    train: Callable[..., tuple]  # (state, hp, rngs, inputs, labels, active [K]) -> state, stats
    # (params [K], inputs, labels, weights, model_state [K]) -> sums [K], weight
    evaluate: Callable[..., tuple]
    # state [K] -> K member states, in one dispatch (indexing leaf by leaf would
    # dispatch, and compile, a small program per leaf and member)
    split: Callable[..., tuple]


_PROGRAMS: dict[tuple, GroupPrograms] = {}


def group_programs(trial: TrialSetup, size: int, shared_data: bool) -> GroupPrograms:
    """The vmapped programs of `size` trials shaped like `trial`, cached like `loop.programs`."""
    key = (loop.program_key(trial), size, shared_data)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = _compile(trial, size, shared_data)
    return _PROGRAMS[key]


def _compile(trial: TrialSetup, size: int, shared_data: bool) -> GroupPrograms:
    fns = loop.functions(trial)
    data_axis = None if shared_data else 0
    init = jax.vmap(fns.init)
    train_all = jax.vmap(fns.train, in_axes=(0, 0, 0, data_axis, data_axis))

    def train(state, hp, rngs, inputs, labels, active):
        new, stats = train_all(state, hp, rngs, inputs, labels)

        def keep(n, o):  # a masked-out (diverged) member keeps its state
            return jnp.where(active.reshape((-1,) + (1,) * (n.ndim - 1)), n, o)

        return jax.tree.map(keep, new, state), stats

    evaluate = jax.vmap(fns.evaluate, in_axes=(0, None, None, None, 0))
    rep = sharding.replicated(trial.mesh)
    data = sharding.batch_sharding(trial.mesh, 1 if shared_data else 2)
    batch = sharding.batch_sharding(trial.mesh, 0)
    return GroupPrograms(
        init=jax.jit(init, out_shardings=rep),
        train=jax.jit(train, in_shardings=(rep, rep, rep, data, data, rep),
                      out_shardings=(rep, rep), donate_argnums=0),
        evaluate=jax.jit(evaluate, in_shardings=(rep, batch, batch, batch, rep),
                         out_shardings=rep),
        split=jax.jit(lambda tree: tuple(jax.tree.map(lambda x, i=i: x[i], tree)
                                         for i in range(size)), out_shardings=rep))


def train_batches(trials: Sequence[TrialSetup], start_step: int, num_steps: int,
                  shared_data: bool) -> tuple[jax.Array, jax.Array]:
    """The members' batches of steps [start_step, start_step + num_steps): one stack
    [steps, B, ...] when they share a seed, else [K, steps, B, ...], each member's
    the same as it would see alone (`playbook.data.batching.train_indices`)."""
    if shared_data:
        return loop.train_batches(trials[0], start_step, num_steps)
    first = trials[0]
    split, size = first.dataset.train, first.batch_size
    idx = np.stack([np.stack([batching.train_indices(len(split), size, t.seed, s)
                              for s in range(start_step, start_step + num_steps)])
                    for t in trials])
    idx = batching.shard_for_process(idx, jax.process_index(), jax.process_count(), axis=2)
    return sharding.put_batch((split.inputs[idx], split.labels[idx]), first.mesh, batch_axis=2)


def _stack(trees: Sequence[Any]) -> Any:
    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)


def _member(tree: Any, i: int) -> Any:
    return jax.tree.map(lambda x: x[i], tree)


# -- the group --------------------------------------------------------------------------------


def train_group(configs: Sequence[ConfigDict], workdirs: Sequence[str | os.PathLike]
                ) -> list[TrialResult]:
    """Trains the trials `configs` in `workdirs` together; returns their results in order.

    Idempotent like `loop.train_and_evaluate`: finished members are returned as
    stored. See the module docstring for when members run one by one instead.
    """
    started = time.perf_counter()
    workdirs = [os.path.abspath(os.fspath(w)) for w in workdirs]
    if len(configs) != len(workdirs):
        raise ValueError(f"{len(configs)} configs for {len(workdirs)} workdirs")
    results: list[TrialResult | None] = [trial_files.read_result(w) for w in workdirs]
    todo = [i for i, r in enumerate(results) if r is None or r.status not in trial_files.FINISHED]
    if len(todo) >= 2:
        try:
            for i, result in zip(todo, _train_together([configs[i] for i in todo],
                                                       [workdirs[i] for i in todo], started)):
                results[i] = result
        except _CannotGroup as reason:
            log.info("training %d trials one by one: %s", len(todo), reason)
        except Exception as e:  # noqa: BLE001 - members then run alone, recording their failures.
            if storage_fault(e) is not None:
                raise  # a full or read-only disk: no member failed, and alone they cannot write
            log.exception("a group of %d trials failed; training them one by one", len(todo))
    for i in todo:
        if results[i] is None or results[i].status not in trial_files.FINISHED:
            results[i] = loop.train_and_evaluate(configs[i], workdirs[i], progress=False)
    return results  # type: ignore[return-value]


class _CannotGroup(Exception):
    """The members cannot train in one program; they run one by one."""


def _setups(configs: Sequence[ConfigDict]) -> list[TrialSetup]:
    """The members' setups; _CannotGroup unless one vmapped program serves them all."""
    keys = {group_key(c) for c in configs}
    if None in keys:
        raise _CannotGroup("trials of an external trainer train one by one")
    if len(keys) > 1:
        raise _CannotGroup("their configs differ in more than scalar hyperparameters")
    sharding.initialize_distributed(bool(configs[0].get("distributed", False)))
    try:
        trials = [loop.setup(c) for c in configs]
    except ConfigError as e:
        raise _CannotGroup(f"a member's config is invalid ({e})") from None
    if len({loop.program_key(t) for t in trials}) > 1:
        raise _CannotGroup("their programs differ")
    if sharding.param_sharding(configs[0]) != "replicated":
        raise _CannotGroup("trials with sharded parameters train one at a time")
    return trials


def _train_together(configs: Sequence[ConfigDict], workdirs: Sequence[str], started: float
                    ) -> list[TrialResult]:
    """The members trained as one group by a `GroupDriver`, each recorded by its own
    `TrialRun`; _CannotGroup if they cannot be (nothing trained then)."""
    trials = _setups(configs)
    first, k = trials[0], len(trials)
    shared_data = len({t.seed for t in trials}) == 1
    progs = group_programs(first, k, shared_data)
    hp = sharding.put_replicated(_stack([t.optimizer.hparams for t in trials]), first.mesh)
    keys = [programs.keys(t) for t in trials]
    init_rngs = sharding.put_replicated(_stack([key[0] for key in keys]), first.mesh)
    rngs = sharding.put_replicated(_stack([key[1] for key in keys]), first.mesh)
    initial = progs.split(progs.init(init_rngs, hp))
    for trial, workdir in zip(trials, workdirs):
        loop.write_config(trial.config, workdir)
    runs = [TrialRun(t, w, started, progress=False, trials_per_program=k)
            for t, w in zip(trials, workdirs)]
    try:
        states, steps = zip(*(run.restore(initial[i]) for i, run in enumerate(runs)))
        if len(set(steps)) > 1:
            raise _CannotGroup(f"members resume from different steps {sorted(set(steps))}")
        state = sharding.put_replicated(_stack(states), first.mesh)
        return GroupDriver(trials, runs, progs, hp, rngs, shared_data).run(state, steps[0])
    finally:
        for run in runs:
            run.close()


class GroupDriver(driver.Driver):
    """`driver.Driver` over the vmapped program of K trials: one dispatch trains every
    active member (a diverged one is masked out), one evaluation serves all, and each
    member's slice goes to its own `TrialRun`."""

    def __init__(self, trials: Sequence[TrialSetup], runs: Sequence[TrialRun],
                 progs: GroupPrograms, hp: Any, rngs: Any, shared_data: bool):
        super().__init__(trials[0], runs, progs, hp, rngs)
        self.trials, self.shared_data = list(trials), shared_data

    def dispatch(self, state, step: int, num_steps: int):
        return self.progs.train(state, self.hp, self.rng,
                                *train_batches(self.trials, step, num_steps, self.shared_data),
                                sharding.put_replicated(self.active, self.trial.mesh))

    def evaluate(self, state, batches):
        return evaluation.evaluate(self.progs.evaluate, state.params, batches,
                                   model_state=state.model_state, members=len(self.trials))

    def members(self, state):
        return self.progs.split(state)

    def member_stats(self, stats, i: int):
        return _member(stats, i)

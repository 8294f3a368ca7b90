"""One trial: `train_and_evaluate(config, workdir) -> TrialResult`.

Trains for exactly `max_train_steps` steps, data-parallel over every device
(`playbook.train.sharding`), evaluates on the full validation split every
`eval_every_steps` and at the end, saves best-plus-latest checkpoints at each
evaluation, and resumes from the latest one when `workdir` already has it.
Playbook: "use a fixed max_train_steps for all trials" and "choose the best
checkpoint retrospectively": a trial's outcome is its best validation
metric, not its last.

Program reuse. The compiled functions are cached at module level by program
structure (workload, model config, input shape, optimizer `Structure`, batch
sizes, steps per dispatch, mesh); scalar hyperparameters enter as arrays, so
the trials of a study that differ only in them trace and compile once.
`TRACE_COUNTS` counts traces, for tests. The model must be a function of
`config.model` and the dataset's shapes (true of every registered workload).

Steps per dispatch. Between log points, `steps_per_dispatch` steps run as one
`lax.scan` over a stacked batch, which saves per-step dispatch and host cost
on small models (benchmarks/steps_per_dispatch.py). The scan length is the
largest divisor of gcd(log_every_steps, eval_every_steps, max_train_steps) not
above the setting, so logs and evaluations fall exactly on their steps and one
program serves the whole trial. The default (0, automatic) is 32, or 1 (no
loop) on CPU for models with convolutions. At most two dispatches are in
flight: XLA's CPU collectives deadlock when many multi-device programs queue.

Model state. Variables other than `params` (batch norm's `batch_stats`) are
`state['model_state']`, an empty dict for stateless models: training applies
the model with them mutable and carries the updated values; evaluation uses
them as they are (running averages); checkpoints save them with the rest of the
state. Under `jax.jit` they are replicated like the parameters, so batch
statistics computed over a data-parallel batch are global.

Failures. A diverged trial (non-finite loss or gradient norm at a log step,
reason `non_finite`; a mean train loss above `divergence_factor` times the
first step's loss, `loss_explosion`; a loss back at chance level,
`collapsed`, see collapse.py) ends with status `diverged` and its reason, no
exception. A collapsed trial stops at once unless `stop_collapsed` is False;
one that ends training at chance is recorded collapsed either way. A ConfigError propagates (bad input,
raised before anything is written). Any other exception is recorded as
status `failed`, with the traceback in result.json and error.txt, and the
failed `TrialResult` is returned, not raised: a study goes on, and
`playbook train` exits 1. This module does not parse flags (`main.py`).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import math
import os
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from ml_collections import ConfigDict

from playbook import config as config_lib
from playbook import external, workloads
from playbook.data import batching
from playbook.errors import ConfigError, storage_fault
from playbook.goal import Goal, validation_metric
from playbook.train import checkpoint_policy, collapse, divergence, optimizers, sharding
from playbook.train import metrics as metrics_lib
from playbook.train import result as result_lib
from playbook.train.checkpoints import Checkpoints
from playbook.train.result import Throughput, TrialResult

# Measured by benchmarks/steps_per_dispatch.py on a 2-core CPU (see its docstring):
# fusing 32 steps doubles an MLP's steps/s; a CNN on XLA:CPU is ~8x slower in a loop.
DEFAULT_STEPS_PER_DISPATCH = 32
DEFAULT_DIVERGENCE_FACTOR = divergence.DEFAULT_FACTOR
CONFIG_FILE = "config.json"
ERROR_FILE = "error.txt"

TRACE_COUNTS: collections.Counter[str] = collections.Counter()

log = logging.getLogger(__name__)

State = dict[str, Any]  # step, params, model_state, opt_state, initial_loss


@dataclasses.dataclass(frozen=True, eq=False)
class Trial:
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


def prepare(config: ConfigDict) -> Trial:
    """Resolves `config` into a `Trial`; ConfigError (nothing written) if anything is off."""
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
    return Trial(
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


# -- compiled programs, cached by structure -------------------------------------------------

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



@dataclasses.dataclass(frozen=True)
class Programs:
    init: Callable[..., State]  # (rng, hp) -> state
    train: Callable[..., tuple[State, dict]]  # (state, hp, rng, inputs, labels) -> state, stats
    # (params, inputs, labels, weights, model_state) -> sums, sum of weights
    evaluate: Callable[..., tuple]


_PROGRAMS: dict[tuple, Programs] = {}
INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


def program_key(trial: Trial) -> tuple:
    """Equal for two trials exactly when `programs` serves both."""
    example = trial.dataset.train.inputs
    return (trial.workload.name,
            json.dumps(config_lib.to_dict(trial.config.model), sort_keys=True),
            trial.dataset.num_classes, example.shape[1:], str(example.dtype),
            trial.optimizer.structure, trial.batch_size, trial.eval_batch_size,
            trial.steps_per_dispatch, trial.mesh, sharding.param_sharding(trial.config))


def programs(trial: Trial) -> Programs:
    """The jitted functions for `trial`, shared with every earlier trial of its structure."""
    key = program_key(trial)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = _compile(trial)
    return _PROGRAMS[key]


@dataclasses.dataclass(frozen=True)
class Functions:
    """The pure functions behind `Programs`, before jit: `playbook.train.batched`
    vmaps the same ones over trials.

    `evaluate(params, inputs, labels, weights, model_state=None)`: `model_state`
    is `state['model_state']`, needed by models with batch norm (None or {} for
    stateless models, so the four-argument call of those is unchanged)."""

    init: Callable[..., State]
    train: Callable[..., tuple[State, dict]]
    evaluate: Callable[..., tuple]


def functions(trial: Trial) -> Functions:
    """The un-jitted init, train (a scan of steps) and evaluation functions of `trial`."""
    model, workload, opt = trial.model, trial.workload, trial.optimizer
    example = trial.dataset.train.inputs
    shape, dtype = (1, *example.shape[1:]), example.dtype

    def init(rng, hp):
        TRACE_COUNTS["init"] += 1
        variables = model.init({"params": rng}, jnp.zeros(shape, dtype), train=False)
        params = variables["params"]
        model_state = {k: v for k, v in variables.items() if k != "params"}
        return {"step": jnp.zeros((), jnp.int32), "params": params, "model_state": model_state,
                "opt_state": opt.init(params, hp), "initial_loss": jnp.full((), jnp.nan, jnp.float32)}

    def train_step(state, batch, hp, rng):
        inputs, labels = batch
        step = state["step"]
        dropout = jax.random.fold_in(rng, step)

        def loss_fn(params):
            variables = {"params": params, **model_state}
            if model_state:  # batch norm: batch statistics in, updated running averages out
                logits, updated = model.apply(variables, inputs, train=True,
                                              rngs={"dropout": dropout}, mutable=list(model_state))
            else:
                logits, updated = model.apply(variables, inputs, train=True,
                                              rngs={"dropout": dropout}), {}
            return jnp.mean(workload.train_loss(logits, labels)), updated

        model_state = state["model_state"]
        (loss, model_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        grad_norm = optax.tree.norm(grads)  # global L2 norm, before any clipping
        params, opt_state, lr = opt.apply(grads, state["opt_state"], state["params"], hp)
        new = {"step": step + 1, "params": params, "model_state": dict(model_state),
               "opt_state": opt_state,
               "initial_loss": jnp.where(step == 0, loss, state["initial_loss"])}
        return new, {"loss": loss, "grad_norm": grad_norm, "learning_rate": lr}

    def train(state, hp, rng, inputs, labels):
        TRACE_COUNTS["train"] += 1
        if inputs.shape[0] == 1:  # no loop at all: XLA:CPU runs convolutions in loops slowly
            state, stats = train_step(state, (inputs[0], labels[0]), hp, rng)
            stats = jax.tree.map(lambda x: x[None], stats)
        else:
            state, stats = jax.lax.scan(lambda s, b: train_step(s, b, hp, rng), state,
                                        (inputs, labels))
        return state, {**stats, "initial_loss": state["initial_loss"]}

    def eval_sums(params, inputs, labels, weights, model_state=None):
        TRACE_COUNTS["eval"] += 1
        logits = model.apply({"params": params, **(model_state or {})}, inputs, train=False)
        metrics = workload.eval_metrics(logits, labels)
        return {k: jnp.sum(weights * v) for k, v in metrics.items()}, jnp.sum(weights)

    return Functions(init=init, train=train, evaluate=eval_sums)


def _compile(trial: Trial) -> Programs:
    fns = functions(trial)
    rep = sharding.replicated(trial.mesh)
    stacked, batch = (sharding.batch_sharding(trial.mesh, a) for a in (1, 0))
    mode = sharding.param_sharding(trial.config)
    state, params, model_state = rep, rep, rep
    if mode != "replicated":  # shardings per leaf, from the state's shapes
        abstract = jax.eval_shape(fns.init, jax.random.PRNGKey(0), trial.optimizer.hparams)
        state = sharding.state_shardings(abstract, trial.mesh, mode)
        params, model_state = state["params"], state["model_state"]
    # The init program runs once per trial: on XLA:CPU, optimisation level 1 compiles
    # it in a third of the time (1.4 s -> 0.55 s for the MNIST-1D MLP), same values.
    init_options = INIT_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None
    return Programs(
        init=jax.jit(fns.init, out_shardings=state, compiler_options=init_options),
        train=jax.jit(fns.train, in_shardings=(state, rep, rep, stacked, stacked),
                      out_shardings=(state, rep), donate_argnums=0),
        evaluate=jax.jit(fns.evaluate, in_shardings=(params, batch, batch, batch, model_state),
                         out_shardings=rep))


# -- data on devices ------------------------------------------------------------------------


def train_batches(trial: Trial, start_step: int, num_steps: int) -> tuple[jax.Array, jax.Array]:
    """The global batches of steps [start_step, start_step + num_steps), stacked and
    split over the mesh (see `sharding.stacked_train_batches`)."""
    return sharding.stacked_train_batches(trial.dataset.train, trial.batch_size, trial.seed,
                                          start_step, num_steps, trial.mesh)


def eval_batches(trial: Trial, split: str = "valid") -> list[tuple[jax.Array, ...]]:
    """The whole `split` as padded batches (weight 0 for padding), placed on the mesh."""
    return sharding.eval_batches(getattr(trial.dataset, split), trial.eval_batch_size,
                                 trial.mesh)


def evaluate(progs: Programs, params: Any, batches: list, prefix: str = "valid",
             model_state: Any = None) -> dict[str, float]:
    """Weighted means over `batches` of each eval metric, as `{prefix}/{name}` floats;
    `model_state` is the state's `model_state` (batch norm's running averages)."""
    outputs = []
    model_state = {} if model_state is None else model_state
    for i, batch in enumerate(batches):
        outputs.append(progs.evaluate(params, *batch, model_state))
        if i >= 2:
            jax.block_until_ready(outputs[i - 2])  # at most two in flight (see module doc)
    totals, weight = collections.defaultdict(float), 0.0
    for sums, weights in jax.device_get(outputs):
        weight += float(weights)
        for k, v in sums.items():
            totals[k] += float(v)
    return {f"{prefix}/{k}": v / weight for k, v in sorted(totals.items())}


def init_state(trial: Trial, progs: Programs) -> State:
    init_rng, _ = jax.random.split(jax.random.PRNGKey(trial.seed))
    hp = sharding.put_replicated(trial.optimizer.hparams, trial.mesh)
    return progs.init(sharding.put_replicated(init_rng, trial.mesh), hp)


def restore(config: ConfigDict, workdir: str | os.PathLike, step: int | str = "best"
            ) -> tuple[int, State]:
    """(step, train state) of a trial's checkpoint: 'best', 'latest' or a step number."""
    return _restore(prepare(config), workdir, step)


def evaluate_checkpoint(config: ConfigDict, workdir: str | os.PathLike, split: str = "valid",
                        step: int | str = "best") -> tuple[int, dict[str, float]]:
    """(step, metrics) of a checkpoint (see `restore`) on `split` ('valid' or 'test')."""
    trial = prepare(config)
    step, state = _restore(trial, workdir, step)
    return step, evaluate(programs(trial), state["params"], eval_batches(trial, split),
                          prefix=split, model_state=state["model_state"])


def _restore(trial: Trial, workdir: str | os.PathLike, step: int | str) -> tuple[int, State]:
    target = init_state(trial, programs(trial))
    with Checkpoints(workdir, trial.metric, trial.goal, trial.keep_best) as ckpts:
        if step in ("best", "latest"):
            found = ckpts.best_step() if step == "best" else ckpts.latest_step()
            if found is None:
                raise FileNotFoundError(f"no {step} checkpoint in {workdir}/checkpoints")
            step = found
        return int(step), ckpts.restore(int(step), target)


# -- the trial ------------------------------------------------------------------------------


def train_and_evaluate(config: ConfigDict, workdir: str | os.PathLike,
                       progress: bool = True) -> TrialResult:
    """Trains one trial in `workdir` (created, or resumed) and returns its result.

    `progress`: the trial's progress line on stderr (a study shows its own instead).

    Idempotent: a workdir whose result.json says done or diverged is returned
    as it is. See the module docstring for what is raised and what is recorded.
    A config naming a `trainer` is trained by that function instead
    (`playbook.train.external_trainer`).
    """
    if external.trainer_of(config):
        from playbook.train import external_trainer

        return external_trainer.train_and_evaluate(config, workdir)
    started = time.perf_counter()
    workdir = os.path.abspath(os.fspath(workdir))  # orbax needs absolute paths
    previous = result_lib.read(workdir)
    if previous is not None and previous.status in result_lib.FINISHED:
        return previous
    run = None
    try:
        sharding.initialize_distributed(bool(config.get("distributed", False)))
        trial = prepare(config)
        write_config(config, workdir)
        run = _Run(trial, workdir, started, progress=progress)
        with checkpoint_policy.sigterm_interrupts():
            try:
                result = run.train()
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the pending best goes to disk
                run.saver.flush()
                run.close()
                raise
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - a failed trial is a result (module docstring).
        if storage_fault(e) is not None:
            raise  # A full or read-only disk is not the trial's failure: it stays unfinished.
        text = traceback.format_exc()
        log.error("trial in %s failed:\n%s", workdir, text)
        result = run.result("failed", error=text) if run is not None else TrialResult(
            status="failed", best_step=None, best=None, final=None, steps=0,
            max_train_steps=int(config.get("max_train_steps", 0)),
            metric=str(config.get("metric", "")), goal="", error=text)
        if sharding.is_main_process():
            os.makedirs(workdir, exist_ok=True)
            _write_atomic(os.path.join(workdir, ERROR_FILE), text)
    finally:
        if run is not None:
            run.close()
    if sharding.is_main_process():
        result_lib.write(workdir, result)
    return result


def write_config(config: ConfigDict, workdir: str) -> None:
    """`workdir/config.json`, the trial's full config (by the main process only)."""
    if sharding.is_main_process():
        os.makedirs(workdir, exist_ok=True)
        _write_atomic(os.path.join(workdir, CONFIG_FILE),
                      json.dumps(config_lib.to_dict(config), indent=1, sort_keys=True))


class _Run:
    """The mutable side of one training run: writers, checkpoints, best so far, timing."""

    def __init__(self, trial: Trial, workdir: str, started: float | None = None,
                 progress: bool = True, trials_per_program: int = 1):
        self.trial, self.workdir = trial, workdir
        self.trials_per_program = trials_per_program
        main = sharding.is_main_process()
        self.ckpts = Checkpoints(workdir, trial.metric, trial.goal, trial.keep_best)
        self.saver = checkpoint_policy.CheckpointWriter(self.ckpts, trial.save_policy,
                                                        trial.max_train_steps)
        self.writer = metrics_lib.MetricsWriter(workdir, enabled=main)
        self.progress = metrics_lib.Progress(trial.max_train_steps, enabled=main and progress)
        self.started = time.perf_counter() if started is None else started
        self.first_step_seconds = math.nan  # start of the run to its first metrics
        self.step = 0  # last step whose train metrics were read
        self.resumed_from = 0  # the checkpoint step this run restored (0: from scratch)
        self.best_step: int | None = None
        self.best: dict[str, float] | None = None
        self.final: dict[str, float] | None = None
        self._intervals: list[tuple[int, float]] = []  # (steps, seconds) per log interval
        self._mark = time.perf_counter()
        chance, chance_error = collapse.chance_levels(collapse.class_frequencies(
            trial.dataset.train, trial.dataset.num_classes))
        self.watch = collapse.Watch(trial.max_train_steps, chance, chance_error)
        self.stop_collapsed = bool(trial.config.get("stop_collapsed", True))

    def close(self) -> None:
        self.progress.close()
        self.ckpts.close()
        self.writer.close()

    # The loop keeps at most two dispatches in flight and reads a log interval's
    # metrics only after dispatching the next one, so the host prepares batches
    # while the devices compute. Evaluation steps are read at once.
    def train(self) -> TrialResult:
        trial, progs = self.trial, programs(self.trial)
        state, step = self._restore(init_state(trial, progs))
        hp = sharding.put_replicated(trial.optimizer.hparams, trial.mesh)
        _, rng = jax.random.split(jax.random.PRNGKey(trial.seed))
        rng = sharding.put_replicated(rng, trial.mesh)
        if step == trial.max_train_steps and self.final is None:
            self.final = evaluate(progs, state["params"], eval_batches(trial),
                                  model_state=state["model_state"])
        evals = eval_batches(trial) if step < trial.max_train_steps else []
        since_log, unread, previous = [], None, None
        self._mark = time.perf_counter()
        while step < trial.max_train_steps:
            n = trial.steps_per_dispatch
            state, stats = progs.train(state, hp, rng, *train_batches(trial, step, n))
            if previous is not None:
                jax.block_until_ready(previous)
            previous, step = stats, step + n
            since_log.append(stats)
            if unread is not None:  # the previous log interval, read while this one runs
                if reason := self._read_train_metrics(*unread):
                    return self.result("diverged", reason=reason)
                unread = None
            if step % trial.eval_every_steps == 0 or step == trial.max_train_steps:
                evaluation = lambda state=state: (
                    evaluate(progs, state["params"], evals, model_state=state["model_state"]),
                    state)
                if reason := self._read_train_metrics(step, since_log, evaluation):
                    return self.result("diverged", reason=reason)
                since_log = []
            elif step % trial.log_every_steps == 0:
                unread, since_log = (step, since_log), []
        return self.result("done")

    def _restore(self, target: State) -> tuple[State, int]:
        restored = self.ckpts.restore_latest(target)
        if restored is None:
            self.writer.drop_after(0)  # of a run killed before its first checkpoint
            if sharding.is_main_process():
                self.writer.write_hparams(_flat(self.trial.config), tensorboard_metrics(
                    self.trial.metric))
            return target, 0
        step = int(restored.step)
        if int(restored.state["step"]) != step:
            raise RuntimeError(f"checkpoint {step} holds state of step {restored.state['step']}")
        self.step = self.resumed_from = step
        self.writer.drop_after(step)  # logged after the checkpoint: about to be logged again
        self.saver.resumed(step)
        self._recover_evaluations(step)
        log.info("resumed %s from step %d", self.workdir, step)
        return restored.state, step

    def _recover_evaluations(self, step: int) -> None:
        """Best and final validation metrics of the run before, from checkpoints and
        metrics.jsonl (which has every evaluation, even with keep_best=0)."""
        evaluations: dict[int, dict[str, float]] = {}
        path = os.path.join(self.workdir, metrics_lib.METRICS_FILE)
        if os.path.exists(path):
            for record in metrics_lib.read_metrics(path, malformed="skip"):
                if "train/loss" in record and record["step"] <= step:
                    self.watch.note(int(record["step"]), _float(record["train/loss"]))
                valid = {k: v for k, v in record.items() if k.startswith("valid/")}
                if self.trial.metric in valid and record["step"] <= step:
                    evaluations[int(record["step"])] = valid
        for s in self.ckpts.all_steps():
            if s <= step and (saved := self.ckpts.metrics(s)) is not None:
                evaluations[s] = saved
        for s in sorted(evaluations):
            self._note_evaluation(s, evaluations[s])
        self.final = evaluations.get(step)

    def _note_evaluation(self, step: int, valid: dict[str, float]) -> None:
        # Ties go to the later step, as in Checkpoints.best_steps.
        if self.best is None or _score(valid, self.trial) >= _score(self.best, self.trial):
            self.best_step, self.best = step, dict(valid)
        self.final = dict(valid)

    def _read_train_metrics(self, step: int, stats: list,
                            evaluation: Callable[[], tuple[dict[str, float], State]] | None = None
                            ) -> str | None:
        """Writes the train metrics of the interval ending at `step` (and, at an
        evaluation, the validation metrics and a checkpoint of the state that
        `evaluation()` returns with them); the reason if the trial is infeasible
        and ends here (collapse.REASONS), else None.

        The interval's time runs from the previous read (or the end of the last
        evaluation) to the moment its last dispatch is done: the loop has just
        waited for it, or `device_get` waits for it here.
        """
        values = {k: np.concatenate([np.atleast_1d(s[k]) for s in jax.device_get(stats)])
                  for k in stats[0]}
        now = time.perf_counter()
        steps, seconds = step - self.step, now - self._mark
        self._intervals.append((steps, seconds))
        if math.isnan(self.first_step_seconds):
            self.first_step_seconds = now - self.started
        record = {"train/loss": float(np.mean(values["loss"])),
                  "train/grad_norm": float(values["grad_norm"][-1]),
                  "train/learning_rate": float(values["learning_rate"][-1]),
                  "train/examples_per_second": steps * self.trial.batch_size / seconds}
        self.step, self._mark = step, now
        self.progress.update(step, record["train/loss"])
        diverged = self._diverged(values)
        self.watch.note(step, record["train/loss"], float(values["initial_loss"][-1]))
        if not diverged and self.stop_collapsed and self.watch.collapsed_now():
            diverged = "collapsed"
        state = None
        if evaluation is not None and not diverged:
            valid, state = evaluation()
            record.update(valid)
        # The record before its checkpoint: a run killed in between resumes from an earlier
        # checkpoint and drops it (`drop_after`), so no logged step is ever missing.
        self.writer.write(step, record)
        if state is not None:
            best = self.best is None or _score(valid, self.trial) >= _score(self.best, self.trial)
            self.saver.evaluated(step, state, valid, best)
            self._note_evaluation(step, valid)
            log.info("step %d: %s", step, " ".join(f"{k} {v:.4g}" for k, v in valid.items()))
            self._mark = time.perf_counter()  # evaluation time is not training time
        if diverged:
            log.warning("trial in %s diverged (%s) at step %d: train/loss %s", self.workdir,
                        diverged, step, record["train/loss"])
        return diverged

    def _diverged(self, values: Mapping[str, np.ndarray]) -> str | None:
        # big_vision: check loss and gradient norms for finiteness at every log step.
        return divergence.diverged(values["loss"], float(values["initial_loss"][-1]),
                                   self.trial.divergence_factor, values["grad_norm"])

    def result(self, status: str, error: str | None = None, reason: str | None = None
               ) -> TrialResult:
        """The trial's result; a `done` trial whose end is at chance is `diverged`
        with reason `collapsed` (collapse.Watch.collapsed_at_end)."""
        if status == "done" and self.watch.collapsed_at_end(self.final):
            status, reason = "diverged", "collapsed"
            log.warning("trial in %s ended at chance level: recorded as collapsed", self.workdir)
        if status != "failed":
            self.saver.flush()  # the pending best (checkpoint_policy)
        self.ckpts.wait()
        # The best checkpoint is the one kept for best_step (none with keep_best=0).
        kept = self.best_step is not None and self.ckpts.best_step() == self.best_step
        objective = (self.best or {}).get(self.trial.metric)
        if status == "done" and objective is not None and math.isfinite(objective):
            # The objective as a TensorBoard scalar: the HParams table's study column.
            self.writer.write_tensorboard(self.trial.max_train_steps,
                                          {objective_tag(self.trial.metric): objective})
        path = self.ckpts.best_path() if kept else None
        return TrialResult(
            status=status, best_step=self.best_step, best=self.best, final=self.final,
            steps=self.step if status != "done" else self.trial.max_train_steps,
            max_train_steps=self.trial.max_train_steps, metric=self.trial.metric,
            goal=self.trial.goal, throughput=self._throughput(), best_checkpoint=path,
            error=error, trials_per_program=self.trials_per_program, reason=reason,
            resumed_from=self.resumed_from)

    def _throughput(self) -> Throughput:
        # Steady state: the first interval of a run includes compilation.
        intervals = self._intervals[1:] or self._intervals
        steps, seconds = sum(i[0] for i in intervals), sum(i[1] for i in intervals)
        if not steps or seconds <= 0:
            return Throughput(first_step_seconds=self.first_step_seconds)
        return Throughput(examples_per_second=steps * self.trial.batch_size / seconds,
                          steps_per_second=steps / seconds,
                          first_step_seconds=self.first_step_seconds)


def _score(valid: Mapping[str, float], trial: Trial) -> float:
    """Higher is better; a missing or NaN metric ranks last (as in Checkpoints)."""
    return Goal.of(trial.goal).score(float(valid.get(trial.metric, math.nan)))


def objective_tag(metric: str) -> str:
    """The TensorBoard tag of a trial's objective: the best value of its metric."""
    return f"best/{metric}"


def tensorboard_metrics(metric: str) -> tuple[str, ...]:
    """The metric columns of TensorBoard's HParams tab: the metric, its best value (the
    study's objective) and the training loss."""
    return (metric, objective_tag(metric), "train/loss")


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _flat(config: ConfigDict) -> dict[str, Any]:
    return {k: config_lib.get(config, k) for k in config_lib.flat_keys(config)}


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    os.replace(tmp, path)

"""One trial: `train_and_evaluate(config, workdir) -> TrialResult`.

Trains for exactly `max_train_steps` steps, data-parallel over every device
(`playbook.train.sharding`), evaluates on the full validation split every
`eval_every_steps` and at the end, saves best-plus-latest checkpoints at each
evaluation, and resumes from the latest one when `workdir` already has it.
Playbook: "use a fixed max_train_steps for all trials" and "choose the best
checkpoint retrospectively": a trial's outcome is its best validation
metric, not its last.

The pieces: `setup` (config -> `TrialSetup`), `programs` (compiled functions,
cached by structure; `start`: initial state, hyperparameters, key), `state`
(`TrainState`), `driver` (the loop, for one trial or a group), `bookkeeping`
(what a trial records: `TrialRun`), `evaluation`. This module puts them
together for one trial and reads checkpoints back (`restore`,
`evaluate_checkpoint`); the names callers use from here are re-exported.

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

import logging
import os
import time
import traceback

from ml_collections import ConfigDict

from playbook import config as config_lib
from playbook import external, trial_files
from playbook.errors import ConfigError, storage_fault
from playbook.train import checkpoint_policy, sharding
from playbook.train.bookkeeping import TrialRun, objective_tag, tensorboard_metrics
from playbook.train.checkpoints import Checkpoints
from playbook.train.driver import Driver
from playbook.train.evaluation import evaluate
from playbook.train.programs import (
    TRACE_COUNTS,
    Functions,
    Programs,
    functions,
    init_state,
    program_key,
    programs,
    start,
)
from playbook.train.setup import (
    DEFAULT_DIVERGENCE_FACTOR,
    DEFAULT_STEPS_PER_DISPATCH,
    TrialSetup,
    dispatch_length,
    eval_batches,
    setup,
    train_batches,
    use_compilation_cache,
)
from playbook.train.state import TrainState
from playbook.trial_files import TrialResult

__all__ = [
    "DEFAULT_DIVERGENCE_FACTOR", "DEFAULT_STEPS_PER_DISPATCH", "TRACE_COUNTS", "Functions",
    "Programs", "TrainState", "TrialSetup", "dispatch_length", "eval_batches", "evaluate",
    "evaluate_checkpoint", "functions", "init_state", "objective_tag", "program_key",
    "programs", "restore", "setup", "start", "tensorboard_metrics", "train_and_evaluate",
    "train_batches", "use_compilation_cache", "write_config"]

log = logging.getLogger(__name__)


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

        external.length_key(config)  # before the trainer runs: a bad length_key is a ConfigError

        return external_trainer.train_and_evaluate(config, workdir)
    started = time.perf_counter()
    workdir = os.path.abspath(os.fspath(workdir))  # orbax needs absolute paths
    previous = trial_files.read_result(workdir)
    if previous is not None and previous.status in trial_files.FINISHED:
        return previous
    run = None
    try:
        sharding.initialize_distributed(bool(config.get("distributed", False)))
        trial = setup(config)
        write_config(config, workdir)
        run = TrialRun(trial, workdir, started, progress=progress)
        with checkpoint_policy.sigterm_interrupts():
            try:
                return _train(trial, run)
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the pending best goes to disk
                run.interrupted()
                raise
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - a failed trial is a result (module docstring).
        if storage_fault(e) is not None:
            raise  # A full or read-only disk is not the trial's failure: it stays unfinished.
        text = traceback.format_exc()
        log.error("trial in %s failed:\n%s", workdir, text)
        if sharding.is_main_process():
            os.makedirs(workdir, exist_ok=True)
            trial_files.write_error(workdir, text)
        if run is not None:
            return run.finish("failed", error=text)
        result = trial_files.failed(text, config)
        if sharding.is_main_process():
            trial_files.write_result(workdir, result)
        return result
    finally:
        if run is not None:
            run.close()


def _train(trial: TrialSetup, run: TrialRun) -> TrialResult:
    progs = programs(trial)
    initial, hp, rng = start(trial, progs)
    state, step = run.restore(initial)
    return Driver(trial, [run], progs, hp, rng).run(state, step)[0]


def write_config(config: ConfigDict, workdir: str) -> None:
    """`workdir/config.json`, the trial's full config (by the main process only)."""
    if sharding.is_main_process():
        os.makedirs(workdir, exist_ok=True)
        trial_files.write_config(workdir, config_lib.to_dict(config))


# -- checkpoints read back ------------------------------------------------------------------


def restore(config: ConfigDict, workdir: str | os.PathLike, step: int | str = "best"
            ) -> tuple[int, TrainState]:
    """(step, train state) of a trial's checkpoint: 'best', 'latest' or a step number."""
    return _restore(setup(config), workdir, step)


def evaluate_checkpoint(config: ConfigDict, workdir: str | os.PathLike, split: str = "valid",
                        step: int | str = "best") -> tuple[int, dict[str, float]]:
    """(step, metrics) of a checkpoint (see `restore`) on `split` ('valid' or 'test')."""
    trial = setup(config)
    step, state = _restore(trial, workdir, step)
    return step, evaluate(programs(trial).evaluate, state.params, eval_batches(trial, split),
                          model_state=state.model_state, prefix=split)


def _restore(trial: TrialSetup, workdir: str | os.PathLike, step: int | str
             ) -> tuple[int, TrainState]:
    target = init_state(trial, programs(trial))
    with Checkpoints(workdir, trial.metric, trial.goal, trial.keep_best) as ckpts:
        if step in ("best", "latest"):
            found = ckpts.best_step() if step == "best" else ckpts.latest_step()
            if found is None:
                raise FileNotFoundError(f"no {step} checkpoint in {workdir}/checkpoints")
            step = found
        return int(step), TrainState.from_checkpoint(ckpts.restore(int(step), target.checkpoint()))

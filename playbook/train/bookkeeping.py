"""What one trial records while it trains: `TrialRun`.

A `TrialRun` owns a trial directory's writers for the length of a run: the
metrics writer (metrics.jsonl, TensorBoard), the progress line, the
checkpoints and their save policy, the best and final validation metrics, the
divergence and collapse checks, and the timing; at the end it makes the
`TrialResult`. It never touches a device array other than those it is handed
and never dispatches training: the driver (`playbook.train.driver`) does, for
one trial or for K trials in one program, and hands each trial's slice of
every result to that trial's `TrialRun` through its public methods.

Hooks, for a subclass (as init2winit's trainers override `update`):
`diverged(values)` (the divergence rule at a log step) and `evaluated(step,
valid, state)` (after each evaluation is recorded and checkpointed).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np
from ml_collections import ConfigDict

from playbook import config as config_lib
from playbook import trial_files
from playbook.goal import Goal
from playbook.train import checkpoint_policy, collapse, divergence, sharding
from playbook.train import metrics as metrics_lib
from playbook.train.checkpoints import Checkpoints
from playbook.train.setup import TrialSetup
from playbook.train.state import TrainState, check_restored
from playbook.trial_files import Throughput, TrialResult

log = logging.getLogger(__name__)

# (validation metrics, the state they are of), computed on demand at an evaluation step.
Evaluation = Callable[[], tuple[dict[str, float], TrainState]]


class TrialRun:
    """The mutable side of one trial's training run: writers, checkpoints, best so
    far, timing. `close()` when done (or use it as a context manager)."""

    def __init__(self, trial: TrialSetup, workdir: str, started: float | None = None,
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
        self._goal = Goal.of(trial.goal)
        frequencies = collapse.class_frequencies(trial.dataset.train, trial.dataset.num_classes)
        self.watch = collapse.Watch(trial.max_train_steps, collapse.chance_levels(frequencies)[0])
        self.chance = chance_of(trial, frequencies)
        self._evaluations: list[float] = []  # the metric at each evaluation, in order
        self.stop_collapsed = bool(trial.config.get("stop_collapsed", True))
        self._closed = False

    def close(self) -> None:
        """Closes the writers and checkpoints; once (later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        self.progress.close()
        self.ckpts.close()
        self.writer.close()

    def __enter__(self) -> TrialRun:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def interrupted(self) -> None:
        """Ctrl-C or SIGTERM: the pending best goes to disk before the run ends."""
        self.saver.flush()
        self.close()

    # -- resuming -------------------------------------------------------------------------

    def restore(self, initial: TrainState) -> tuple[TrainState, int]:
        """(state, step) to train from: the latest checkpoint's, or `initial` at step 0.
        Earlier evaluations are recovered, records after the checkpoint dropped."""
        restored = self.ckpts.restore_latest(initial.checkpoint())
        if restored is None:
            self.writer.drop_after(0)  # of a run killed before its first checkpoint
            if sharding.is_main_process():
                self.writer.write_hparams(_flat(self.trial.config), tensorboard_metrics(
                    self.trial.metric))
            return initial, 0
        step = int(restored.step)
        state = TrainState.from_checkpoint(restored.state)
        check_restored(state, step)
        self.step = self.resumed_from = step
        self.writer.drop_after(step)  # logged after the checkpoint: about to be logged again
        self.saver.resumed(step)
        self._recover_evaluations(step)
        log.info("resumed %s from step %d", self.workdir, step)
        return state, step

    def _recover_evaluations(self, step: int) -> None:
        """Best and final validation metrics of the run before, from checkpoints and
        metrics.jsonl (which has every evaluation, even with keep_best=0)."""
        evaluations: dict[int, dict[str, float]] = {}
        path = trial_files.path(self.workdir, trial_files.METRICS_FILE)
        if os.path.exists(path):
            for record in trial_files.read_metrics(path, malformed="skip"):
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

    # -- while training -------------------------------------------------------------------

    def start_interval(self) -> None:
        """The next log interval's time starts now (training starts or resumes)."""
        self._mark = time.perf_counter()

    def record(self, step: int, stats: list[Mapping[str, Any]],
               evaluation: Evaluation | None = None) -> str | None:
        """Writes the train metrics of the interval ending at `step` (`stats`: the
        interval's dispatches, this trial's values only; and, at an evaluation, the
        validation metrics and a checkpoint of the state that `evaluation()` returns
        with them); the reason if the trial is infeasible and ends here
        (collapse.REASONS), else None.

        The interval's time runs from the previous read (or the end of the last
        evaluation) to the moment its last dispatch is done: the driver has just
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
        reason = self.diverged(values)
        self.watch.note(step, record["train/loss"], float(values["initial_loss"][-1]))
        if not reason and self.stop_collapsed and self.watch.collapsed_now():
            reason = "collapsed"
        state = None
        if evaluation is not None and not reason:
            valid, state = evaluation()
            record.update(valid)
        # The record before its checkpoint: a run killed in between resumes from an earlier
        # checkpoint and drops it (`drop_after`), so no logged step is ever missing.
        self.writer.write(step, record)
        if state is not None:
            best = self.best is None or self._score(valid) >= self._score(self.best)
            self.saver.evaluated(step, state.checkpoint(), valid, best)
            self._note_evaluation(step, valid)
            log.info("step %d: %s", step, " ".join(f"{k} {v:.4g}" for k, v in valid.items()))
            self.evaluated(step, valid, state)
            self._mark = time.perf_counter()  # evaluation time is not training time
        if reason:
            log.warning("trial in %s diverged (%s) at step %d: train/loss %s", self.workdir,
                        reason, step, record["train/loss"])
        return reason

    def diverged(self, values: Mapping[str, np.ndarray]) -> str | None:
        """Hook: the divergence reason of a log interval's values, or None."""
        # big_vision: check loss and gradient norms for finiteness at every log step.
        return divergence.diverged(values["loss"], float(values["initial_loss"][-1]),
                                   self.trial.divergence_factor, values["grad_norm"])

    def evaluated(self, step: int, valid: dict[str, float], state: TrainState) -> None:
        """Hook: called after the evaluation at `step` is recorded and checkpointed."""

    def _note_evaluation(self, step: int, valid: dict[str, float]) -> None:
        self._evaluations.append(float(valid.get(self.trial.metric, math.nan)))
        # Ties go to the later step, as in Checkpoints.best_steps.
        if self.best is None or self._score(valid) >= self._score(self.best):
            self.best_step, self.best = step, dict(valid)
        self.final = dict(valid)

    def _score(self, valid: Mapping[str, float]) -> float:
        """Higher is better; a missing or NaN metric ranks last (as in Checkpoints)."""
        return self._goal.score(float(valid.get(self.trial.metric, math.nan)))

    # -- the end --------------------------------------------------------------------------

    def result(self, status: str, error: str | None = None, reason: str | None = None
               ) -> TrialResult:
        """The trial's result; a `done` trial that ended at chance is `diverged` with
        reason `collapsed` or `at_chance` (collapse.Watch.verdict)."""
        verdict = self.watch.verdict(self.chance, self._evaluations) if status == "done" else None
        if verdict:
            status, reason = "diverged", verdict
            log.warning("trial in %s ended at chance (%s): recorded as %s", self.workdir,
                        self.chance.describe() if self.chance else "training loss", verdict)
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
            resumed_from=self.resumed_from, chance=self.chance.value if self.chance else None)

    def finish(self, status: str, error: str | None = None, reason: str | None = None
               ) -> TrialResult:
        """`result(...)`, written to the trial's result.json (by the main process) once
        everything else of the run is closed and on disk."""
        result = self.result(status, error=error, reason=reason)
        self.close()
        if sharding.is_main_process():
            trial_files.write_result(self.workdir, result)
        return result

    def _throughput(self) -> Throughput:
        # Steady state: the first interval of a run includes compilation.
        intervals = self._intervals[1:] or self._intervals
        steps, seconds = sum(i[0] for i in intervals), sum(i[1] for i in intervals)
        if not steps or seconds <= 0:
            return Throughput(first_step_seconds=self.first_step_seconds)
        return Throughput(examples_per_second=steps * self.trial.batch_size / seconds,
                          steps_per_second=steps / seconds,
                          first_step_seconds=self.first_step_seconds)


def chance_of(trial: TrialSetup, frequencies: np.ndarray | None
              ) -> collapse.ChanceLevel | None:
    """The chance level of the trial's metric: the config's `metric_chance`, else the
    workload's `chance_levels(dataset)`, else that of the training labels' classes."""
    workload = getattr(trial.workload, "chance_levels", None)
    return collapse.chance_level(
        trial.metric, trial.goal, frequencies=frequencies,
        workload=workload(trial.dataset) if callable(workload) else None,
        declared=collapse.declared_in(trial.config), num_valid=len(trial.dataset.valid))


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

"""The training loop, for one trial or for K trials in one program: `Driver`.

A driver dispatches the compiled train program from a step to
`max_train_steps`, reads each log interval's metrics and, at each evaluation
step, the validation metrics, and hands every trial's share of them to that
trial's `bookkeeping.TrialRun` (metrics, checkpoints, divergence, result).
`Driver` trains one trial with `programs.Programs`; `batched.GroupDriver` is
the same loop over the vmapped program of K trials, overriding the hooks that
differ: `dispatch`, `evaluate`, `members` and `member_stats`.

The loop keeps at most two dispatches in flight and reads a log interval's
metrics only after dispatching the next one, so the host prepares batches
while the devices compute; steps between log points run fused in one
`lax.scan` (`setup.dispatch_length`). Evaluation steps are read at once. A
trial that diverges or collapses ends at once with its reason; in a group
the others go on (the group's step masks it out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from playbook.train import evaluation as evaluation_lib
from playbook.train import setup as setup_lib
from playbook.train.bookkeeping import TrialRun
from playbook.train.programs import Programs
from playbook.train.setup import TrialSetup
from playbook.train.state import TrainState
from playbook.trial_files import TrialResult


class Driver:
    """Trains `runs[0].trial` with `progs` from `hp` and the training key `rng`."""

    def __init__(self, trial: TrialSetup, runs: Sequence[TrialRun], progs: Any, hp: Any,
                 rng: Any):
        self.trial, self.runs = trial, list(runs)
        self.progs, self.hp, self.rng = progs, hp, rng
        self.active = np.ones(len(self.runs), bool)  # members still training
        self.results: list[TrialResult | None] = [None] * len(self.runs)

    # -- hooks ----------------------------------------------------------------------------

    def dispatch(self, state: Any, step: int, num_steps: int) -> tuple[Any, Any]:
        """Steps [step, step + num_steps) of every active member: (state, stats)."""
        progs: Programs = self.progs
        return progs.train(state, self.hp, self.rng, *setup_lib.train_batches(self.trial, step, num_steps))

    def evaluate(self, state: Any, batches: Sequence[tuple]) -> list[dict[str, float]]:
        """Each member's validation metrics of `state`."""
        return [evaluation_lib.evaluate(self.progs.evaluate, state.params, batches,
                                        model_state=state.model_state)]

    def members(self, state: Any) -> Sequence[TrainState]:
        """Each member's state."""
        return [state]

    def member_stats(self, stats: Mapping[str, Any], i: int) -> Mapping[str, Any]:
        """Member `i`'s values of one dispatch's stats (fetched to the host)."""
        return stats

    # -- the loop -------------------------------------------------------------------------

    def run(self, state: Any, step: int) -> list[TrialResult]:
        """Trains from `step` (every member's) to the end; each member's result, in order,
        written to its trial directory as soon as it is known."""
        trial = self.trial
        if step == trial.max_train_steps and any(run.final is None for run in self.runs):
            finals = self.evaluate(state, setup_lib.eval_batches(trial))  # a run ended by its last save
            for run, final in zip(self.runs, finals):
                run.final = final if run.final is None else run.final
        evals = setup_lib.eval_batches(trial) if step < trial.max_train_steps else []
        since_log, unread, previous = [], None, None
        for run in self.runs:
            run.start_interval()
        while step < trial.max_train_steps and self.active.any():
            n = trial.steps_per_dispatch
            state, stats = self.dispatch(state, step, n)
            if previous is not None:
                jax.block_until_ready(previous)  # at most two dispatches in flight
            previous, step = stats, step + n
            since_log.append(stats)
            if unread is not None:  # the previous log interval, read while this one runs
                self.read(*unread)
                unread = None
            if step % trial.eval_every_steps == 0 or step == trial.max_train_steps:
                self.read(step, since_log, state, evals)
                since_log = []
            elif step % trial.log_every_steps == 0:
                unread, since_log = (step, since_log), []
        for i, run in enumerate(self.runs):
            if self.results[i] is None:
                self.results[i] = run.finish("done")
        return self.results  # type: ignore[return-value]

    def read(self, step: int, stats: list, state: Any = None,
             evals: Sequence[tuple] | None = None) -> None:
        """Each active member's metrics of the interval ending at `step` (and at an
        evaluation its validation metrics and checkpoint); diverged ones end here."""
        values = jax.device_get(stats)
        valid = members = None
        for i, run in enumerate(self.runs):
            if not self.active[i]:
                continue
            evaluation = None
            if state is not None:
                def evaluation(i=i):
                    nonlocal valid, members
                    if valid is None:  # one evaluation serves every member
                        valid, members = self.evaluate(state, evals), self.members(state)
                    return valid[i], members[i]
            mine = [self.member_stats(v, i) for v in values]
            if reason := run.record(step, mine, evaluation):
                self.active[i] = False
                self.results[i] = run.finish("diverged", reason=reason)

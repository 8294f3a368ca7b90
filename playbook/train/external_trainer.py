"""One trial trained by the user's own function: `trainer = "package.module:function"`.

The function is called once, as `function(config, workdir)` with the trial's
ConfigDict and `TRIAL_DIR/workdir` (the Flax examples' `train_and_evaluate`
signature); it trains however it likes and writes whatever it likes there.
Its curves are then read (`playbook.train.curves`: what it returned, its
TensorBoard event files, its metrics.jsonl) and the trial directory gets the
same files as playbook's own loop writes, through the same metrics writer:
`metrics.jsonl` (the training loss also under `train/loss`, which the plots
and findings read), TensorBoard events under `tensorboard/` with the trial's
hyperparameters and objective (and the trackers asked for), `result.json`
and, for a failed trial, `error.txt`. So every analysis works as it does for
built-in workloads.

Outcome. The trial is `failed` when the function raises (its traceback is
kept) or when the study's metric is in none of the curves (the message names
the metrics that were found); `diverged` when the training loss, or the
metric itself, stops being finite or the loss explodes
(`playbook.train.divergence`, at the first logged step where it does, with
reason `non_finite` or `loss_explosion`), when the training loss, having
learned, ends back at the level of its first logged value (reason
`collapsed`; the trainer's data is unknown, so its first loss stands in for
the loss at chance), or when the metric ends at the chance level the config
declares as `metric_chance` (reason `collapsed` or `at_chance`,
`playbook.train.collapse`); else `done`, with its best step
chosen retrospectively by the metric. A trial
whose result.json says done or diverged is returned as it is.

Resume. playbook calls the function again, with the same workdir, for a
trial that was interrupted; a function that restores its latest checkpoint
from its workdir (the Flax examples do, through orbax) continues where it
stopped, and a rewritten step's later value counts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import shutil
import time
import traceback

import numpy as np
from ml_collections import ConfigDict

from playbook import config as config_lib
from playbook import external, trial_files
from playbook.errors import ConfigError, storage_fault
from playbook.goal import Goal
from playbook.train import collapse, divergence
from playbook.train import curves as curves_lib
from playbook.train import metrics as metrics_lib
from playbook.trial_files import Throughput, TrialResult

WORKDIR = "workdir"  # the function's own directory inside the trial directory

log = logging.getLogger(__name__)


def train_and_evaluate(config: ConfigDict, trial_dir: str | os.PathLike) -> TrialResult:
    """Runs the config's trainer for one trial in `trial_dir` and records its result.

    A ConfigError (the trainer cannot be imported) propagates; anything the
    trainer raises is a failed result, returned.
    """
    trial_dir = os.path.abspath(os.fspath(trial_dir))
    previous = trial_files.read_result(trial_dir)
    if previous is not None and previous.status in trial_files.FINISHED:
        return previous
    reference = external.trainer_of(config)
    trainer = external.load_trainer(reference)
    metric, goal = metric_and_goal(config)
    workdir = os.path.join(trial_dir, WORKDIR)
    os.makedirs(workdir, exist_ok=True)
    trial_files.write_config(trial_dir, config_lib.to_dict(config))
    returned, error = None, None
    started = time.time()  # event files hold wall times since the epoch
    try:
        returned = trainer(config, workdir)
    except Exception as e:  # noqa: BLE001 - a failed trial is a result (module docstring).
        if storage_fault(e) is not None:
            raise  # A full or read-only disk is not the trial's failure: it stays unfinished.
        error = traceback.format_exc()
        log.error("trainer %s failed in %s:\n%s", reference, workdir, error)
    found = curves_lib.collect(returned, workdir, last_step=external.length(config))
    result = dataclasses.replace(outcome(found, config, metric, goal, error, workdir),
                                 throughput=throughput(found, started, config))
    write_metrics(trial_dir, found, config, result)
    if result.status == "failed":
        trial_files.write_error(trial_dir, result.error)
    trial_files.write_result(trial_dir, result)
    return result


def metric_and_goal(config: ConfigDict) -> tuple[str, str]:
    """The trial's selection metric and its goal (see `external.trainer_metric_goal`)."""
    metric = str(config.get("metric", "") or "")
    if not metric:
        raise ConfigError("a trainer's config needs 'metric', the name of the metric its "
                          "trainer logs to select trials by (e.g. metric='eval_accuracy'), "
                          "or the study's metric=...")
    return metric, external.trainer_metric_goal(metric, "", config.get(external.GOAL_KEY, ""))


def outcome(found: curves_lib.Curves, config: ConfigDict, metric: str, goal: str,
            error: str | None, workdir: str) -> TrialResult:
    """The TrialResult of the curves `found` (and of the trainer's `error`, if any)."""
    length = external.length(config)
    steps, values = found.curve(metric)
    last = max(found.by_step, default=0)

    def result(status: str, best_step: int | None = None, steps_done: int = last,
               text: str | None = None, reason: str | None = None,
               chance: collapse.ChanceLevel | None = None) -> TrialResult:
        # A diverged trial's final evaluation is its last one before the divergence.
        end = steps_done - (status == "diverged")
        usable = {s: m for s, m in found.by_step.items() if s <= end and metric in m}
        best = found.by_step[best_step] if best_step is not None else None
        final = usable[max(usable)] if usable else None
        return TrialResult(status=status, best_step=best_step, best=best, final=final,
                           steps=steps_done, max_train_steps=length or last, metric=metric,
                           goal=goal, error=text, reason=reason,
                           chance=chance.value if chance else None)

    if error is not None:
        return result("failed", text=error, reason="exception")
    if not steps:
        return result("failed", reason="metric_missing", text=(
            f"metric '{metric}' was not found in what trainer '{external.trainer_of(config)}' "
            f"returned or wrote in {workdir} (read: {found.describe_sources()}); metrics found: "
            f"{', '.join(found.names) or 'none'}; set the study's metric to one of them"))
    diverged_at = _divergence(found, config, metric)
    cutoff = last if diverged_at is None else diverged_at - 1
    best_step = _best_step(steps, values, goal, cutoff)
    if diverged_at is not None:
        log.warning("trial in %s diverged at step %d", workdir, diverged_at)
        return result("diverged", best_step, diverged_at, reason=_reason(found, config,
                                                                          metric, diverged_at))
    chance = collapse.chance_level(metric, goal, declared=collapse.declared_in(config))
    verdict = _watch(found, config, length or last).verdict(chance, values)
    if verdict:
        log.warning("trial in %s ended at chance (%s): recorded as %s", workdir,
                    chance.describe() if chance else "its first logged training loss", verdict)
        return result("diverged", best_step, reason=verdict, chance=chance)
    return result("done", best_step, chance=chance)


def _reason(found: curves_lib.Curves, config: ConfigDict, metric: str, step: int) -> str:
    """Why the curves diverged at `step`: a value there that is not finite, or a loss
    that exploded."""
    values = [float(v) for v in found.by_step.get(step, {}).values()
              if isinstance(v, (int, float, np.floating, np.integer))]
    return "non_finite" if any(not math.isfinite(v) for v in values) else "loss_explosion"


def throughput(found: curves_lib.Curves, started: float, config: ConfigDict) -> Throughput:
    """Speed of this call, from the wall times of the steps its event files logged:
    steps per second between its first and last logged step (evaluations included),
    examples per second when the config has a `batch_size`, and the seconds from the
    call to its first logged step (start-up and compilation). NaN where unknown."""
    times = sorted((t, s) for s, t in found.wall_times.items() if t >= started)
    if not times:
        return Throughput()
    first = times[0][0] - started
    (t0, s0), (t1, s1) = times[0], times[-1]
    if t1 <= t0 or s1 <= s0:
        return Throughput(first_step_seconds=first)
    rate = (s1 - s0) / (t1 - t0)
    batch = config.get("batch_size", None)
    examples = rate * batch if isinstance(batch, int) and not isinstance(batch, bool) else math.nan
    return Throughput(examples_per_second=examples, steps_per_second=rate,
                      first_step_seconds=first)


def _divergence(found: curves_lib.Curves, config: ConfigDict, metric: str) -> int | None:
    """The first logged step at which the training loss diverged or the metric stopped
    being finite, or None."""
    factor = float(config.get("divergence_factor", divergence.DEFAULT_FACTOR))
    at = []
    loss = curves_lib.train_loss_name(found, _loss_key(config))
    if loss is not None:
        at.append(divergence.first_divergence(*found.curve(loss), factor))
    at.append(divergence.first_divergence(*found.curve(metric), 0.0))  # finiteness only
    at = [s for s in at if s is not None]
    return min(at) if at else None


def _watch(found: curves_lib.Curves, config: ConfigDict, length: int) -> collapse.Watch:
    """The training loss's course (collapse.Watch): the trainer's data is unknown, so its
    first logged loss stands in for the loss at chance."""
    watch = collapse.Watch(length)
    loss = curves_lib.train_loss_name(found, _loss_key(config))
    if loss is not None:
        steps, values = found.curve(loss)
        for step, value in zip(steps, values, strict=True):
            watch.note(int(step), float(value), float(values[0]))
    return watch


def _best_step(steps: list[int], values: list[float], goal: str, cutoff: int) -> int | None:
    """The step of the best finite value up to `cutoff`; ties go to the later step."""
    sign = -Goal.of(goal).sign
    best, best_step = -math.inf, None
    for step, value in zip(steps, values, strict=True):
        if step <= cutoff and math.isfinite(value) and sign * value >= best:
            best, best_step = sign * value, step
    return best_step


def write_metrics(trial_dir: str, found: curves_lib.Curves, config: ConfigDict,
                  result: TrialResult) -> None:
    """The curves through playbook's metrics writer, as the loop records a trial:
    metrics.jsonl (the training loss also as `train/loss`), TensorBoard events with
    the trial's hyperparameters and objective, and the trackers asked for. An
    earlier attempt's records are replaced."""
    from playbook.train import bookkeeping  # imports JAX: only where a trial is recorded

    loss_name = curves_lib.train_loss_name(found, _loss_key(config))
    with contextlib.suppress(FileNotFoundError):
        os.remove(trial_files.path(trial_dir, trial_files.METRICS_FILE))
    shutil.rmtree(os.path.join(trial_dir, metrics_lib.TENSORBOARD_DIR), ignore_errors=True)
    with metrics_lib.MetricsWriter(trial_dir) as writer:
        writer.write_hparams(config_lib.flatten(config_lib.to_dict(config)),
                             bookkeeping.tensorboard_metrics(result.metric))
        for step, scalars in found.by_step.items():
            alias = ({"train/loss": scalars[loss_name]}
                     if loss_name in scalars and loss_name != "train/loss" else {})
            writer.write(step, {**scalars, **alias})
        if result.objective is not None and math.isfinite(result.objective):
            writer.write_tensorboard(result.max_train_steps,
                                     {bookkeeping.objective_tag(result.metric): result.objective})


def _loss_key(config: ConfigDict) -> str | None:
    return config.get("train_loss_metric", None) or None

"""Steps to result, batch-size scaling regimes, and the first max_train_steps.

Shallue et al. 2018 ("Measuring the effects of data parallelism on neural
network training") measure a batch size by its *steps to result*: the first
evaluated step at which any trial of that batch size reaches a goal value of
the metric (the minimum over trials, each with its nuisance hyperparameters,
of the first step that reaches the goal). Plotted against batch size on
log-log axes it shows three regimes: perfect scaling (slope about -1: doubling
the batch halves the steps), diminishing returns, and maximal parallelism
(flat). `steps_to_result` computes the table, reporting a batch size whose
trials never reach the goal as unreached rather than dropping it;
`classify_regimes` labels each doubling by its local slope; `scaling_rules`
gives the linear and square-root learning-rate scaling references.

`budget_comparison` contrasts a step budget with an epoch budget (Playbook:
compare batch sizes under a step budget; an epoch budget only probes the
perfect-scaling regime). `max_train_steps_from_sweep` implements the
playbook's learning-rate sweep for a first max_train_steps ("Deciding how long
to train when training is not compute-bound"): with a constant learning rate
and no regularisation, the step at which the fastest trial fits the training
set. Everything here is a pure function of the loaded tables; the figures are
in scaling_plots.py.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from playbook import config as config_lib
from playbook.analysis import load as load_lib
from playbook.analysis import space_findings
from playbook.analysis.load import Study
from playbook.errors import ConfigError, closest
from playbook.goal import Goal, check
from playbook.study.runner import describe

# Local log-log slope of steps-to-result against batch size, per doubling.
# Perfect scaling is -1; at -0.75 a doubling still saves 41% of the steps, at
# -0.2 it saves 13%, which at an evaluation interval of 10-25 steps is about
# the resolution of a steps-to-result measurement.
PERFECT_SLOPE = -0.75
FLAT_SLOPE = -0.2
# Beyond these a doubling contradicts the curve's expected shape: steeper than
# perfect scaling, or more steps at a larger batch (Shallue et al.: never beyond
# noise). Both usually mean the nuisance search of one of the two batch sizes
# missed its best region.
STEEPER_THAN_PERFECT = -1.25
RISING = 0.2
PERFECT, DIMINISHING, MAXIMAL = "perfect scaling", "diminishing returns", "maximal parallelism"
REGIMES = (PERFECT, DIMINISHING, MAXIMAL)


def first_step_reaching(steps: Sequence[float], values: Sequence[float], target: float,
                        goal: str) -> float:
    """The first step whose value reaches `target` (<= when minimising, >= when
    maximising); NaN when none does. NaN values never reach anything."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        hit = Goal.of(goal).reached(values, target)
    order = np.argsort(steps, kind="stable")
    hits = np.flatnonzero(hit[order])
    return float(steps[order][hits[0]]) if len(hits) else math.nan


def trial_steps_to_result(trials: pd.DataFrame, curves: pd.DataFrame, metric: str,
                          target: float, goal: str) -> pd.Series:
    """Per trial (indexed by trial_id), the first logged step at which `metric` reaches
    `target`; NaN for a trial that never does."""
    return pd.Series({t: first_step_reaching(*load_lib.curve(curves, t, metric), target, goal)
                      for t in trials["trial_id"]}, dtype=float)


def steps_to_result(study: Study | str | os.PathLike, target: float, metric: str | None = None,
                    goal: str | None = None) -> pd.DataFrame:
    """Steps to result per scientific value of `study` (Shallue et al. 2018).

    `metric` defaults to the study's metric (any logged metric works, e.g.
    'train/loss'), `goal` to the study's goal for its own metric and to
    'minimize' for a loss. Only done original trials count: a diverged trial is
    infeasible and a seed rerun is not a new nuisance point.

    Returns one row per scientific value, in declaration order: `label`, one
    column per scientific key, `steps` (NaN when unreached), `reached`,
    `trial_id` of the fastest trial (None when unreached), `trials` (done
    trials), `reaching` (how many of them reach the goal), `infeasible`, and the
    fastest trial's nuisance values. `attrs` hold metric, target and goal.
    """
    study = load_lib.as_study(study)
    metric = metric or study.metric
    _check_metric(study, metric)
    goal = goal or _default_goal(study, metric)
    return steps_to_result_table(study.trials, study.curves, metric, target, goal,
                                 study.spec.scientific_values(), study.nuisance_keys)


def common_target(study: Study | str | os.PathLike) -> float | None:
    """The least good of the scientific values' best objectives: a goal every value with a
    done trial reaches (the report's default); None without done trials."""
    study = load_lib.as_study(study)
    goal = Goal.of(study.goal)
    best = load_lib.ranked(study.trials, study.goal).groupby("label")["objective"].agg(goal.best)
    if not len(best):
        return None
    return goal.worst(best)


def steps_to_result_table(trials: pd.DataFrame, curves: pd.DataFrame, metric: str,
                          target: float, goal: str, scientific_values: Sequence[dict],
                          nuisance_keys: Sequence[str] = ()) -> pd.DataFrame:
    """`steps_to_result` on a trials table and its curves (see there)."""
    check(goal)
    originals = load_lib.originals(trials)
    rows = []
    for scientific in scientific_values:
        label = describe(scientific)
        mine = originals[originals["label"] == label]
        done = mine[mine["status"] == "done"]
        first = trial_steps_to_result(done, curves, metric, target, goal)
        reached = first.dropna()
        row: dict[str, Any] = {"label": label, **scientific}
        fastest = reached.idxmin() if len(reached) else None
        row.update(steps=float(reached.min()) if len(reached) else math.nan,
                   reached=fastest is not None, trial_id=fastest, trials=len(done),
                   reaching=len(reached),
                   infeasible=int(mine["status"].isin(load_lib.INFEASIBLE).sum()))
        best = done[done["trial_id"] == fastest]
        for key in nuisance_keys:
            row[key] = best.iloc[0][key] if len(best) and key in best else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs.update(metric=metric, target=float(target), goal=goal)
    return table


def _default_goal(study: Study, metric: str) -> str:
    if metric == study.metric or metric.split("/", 1)[-1] == study.metric.split("/", 1)[-1]:
        return study.goal
    named = Goal.from_name(metric)
    if named is not None:
        return named.direction
    raise ConfigError(f"the goal of metric '{metric}' is unknown; pass goal='minimize' or "
                      f"'maximize' (--goal_direction on the command line)")


def _check_metric(study: Study, metric: str) -> None:
    logged = sorted(set(study.curves["metric"]))
    if logged and metric not in logged and f"valid/{metric}" not in logged:
        raise ConfigError(f"metric '{metric}' was never logged by this study"
                          f"{closest(metric, logged)}; logged: {', '.join(logged)}")


# -- regimes ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Regimes:
    """The regimes of a steps-to-result curve.

    `segments` has one row per pair of consecutive reached batch sizes:
    batch_size, next_batch_size, slope (of log steps against log batch size),
    regime, and a note when the slope is implausible (steeper than
    `STEEPER_THAN_PERFECT` or above `RISING`). `perfect_until` is the largest batch size at which the initial
    run of perfect-scaling segments ends (None if the curve does not start in
    it); `maximal_from` is the batch size from which every later segment is flat
    (None if the curve never flattens); `unreached` lists batch sizes left out
    because no trial reached the goal.
    """

    segments: pd.DataFrame
    perfect_until: float | None
    maximal_from: float | None
    unreached: tuple[float, ...] = ()

    def summary(self) -> str:
        """One line per regime, for printing."""
        lines = [f"  {r.batch_size:g} -> {r.next_batch_size:g}: slope {r.slope:+.2f} ({r.regime})"
                 + (f"; {r.note}" if r.note else "") for r in self.segments.itertuples()]
        if self.perfect_until is not None:
            lines.append(f"perfect scaling up to batch size {self.perfect_until:g}")
        else:
            lines.append("no perfect scaling at the smallest batch sizes measured")
        lines.append(f"maximal parallelism from batch size {self.maximal_from:g}"
                     if self.maximal_from is not None else "no maximal-parallelism plateau")
        if self.unreached:
            lines.append("goal not reached at batch size "
                         + ", ".join(f"{b:g}" for b in self.unreached))
        return "\n".join(lines)


def classify_regimes(batch_sizes: Sequence[float], steps: Sequence[float],
                     perfect: float = PERFECT_SLOPE, flat: float = FLAT_SLOPE) -> Regimes:
    """Labels each step between consecutive batch sizes by its log-log slope:
    <= `perfect` is perfect scaling, >= `flat` maximal parallelism, in between
    diminishing returns. NaN steps (unreached goals) are left out and listed."""
    if not perfect < flat:
        raise ValueError(f"the perfect-scaling slope ({perfect}) must be below the flat one "
                         f"({flat})")
    b = np.asarray(batch_sizes, dtype=float)
    s = np.asarray(steps, dtype=float)
    if b.shape != s.shape:
        raise ValueError(f"{len(b)} batch sizes but {len(s)} step counts")
    order = np.argsort(b)
    b, s = b[order], s[order]
    if np.any(b <= 0) or np.any(np.diff(b) == 0):
        raise ValueError(f"batch sizes must be positive and distinct: {b.tolist()}")
    ok = np.isfinite(s) & (s > 0)
    unreached = tuple(float(x) for x in b[~ok])
    b, s = b[ok], s[ok]
    slope = np.diff(np.log(s)) / np.diff(np.log(b))
    regime = np.where(slope <= perfect, PERFECT, np.where(slope >= flat, MAXIMAL, DIMINISHING))
    note = np.where(slope < STEEPER_THAN_PERFECT,
                    "steeper than perfect scaling: the smaller batch size is likely under-tuned",
                    np.where(slope > RISING, "rising: more steps at the larger batch size, "
                             "likely under-tuned or noise", ""))
    segments = pd.DataFrame({"batch_size": b[:-1], "next_batch_size": b[1:], "slope": slope,
                             "regime": regime, "note": note})
    perfect_until = None
    n_perfect = 0
    while n_perfect < len(regime) and regime[n_perfect] == PERFECT:
        n_perfect += 1
    if n_perfect:
        perfect_until = float(b[n_perfect])
    n_flat = 0
    while n_flat < len(regime) and regime[len(regime) - 1 - n_flat] == MAXIMAL:
        n_flat += 1
    maximal_from = float(b[len(regime) - n_flat]) if n_flat else None
    return Regimes(segments, perfect_until, maximal_from, unreached)


# -- learning rates --------------------------------------------------------------------


def effective_learning_rate(table: pd.DataFrame, lr_key: str = "learning_rate",
                            momentum_key: str = "momentum") -> pd.Series:
    """lr / (1 - momentum) per row where momentum is a column (Shallue et al. compare
    this "effective learning rate" across batch sizes), else the learning rate."""
    lr = table[lr_key].astype(float)
    if momentum_key in table:
        momentum = table[momentum_key].astype(float)
        return lr / (1.0 - momentum.fillna(0.0))
    return lr


def scaling_rules(batch_sizes: Sequence[float], reference_batch: float,
                  reference_lr: float) -> pd.DataFrame:
    """The learning rates that linear and square-root scaling predict from one
    (batch size, learning rate) pair: columns batch_size, linear, sqrt."""
    b = np.asarray(batch_sizes, dtype=float)
    ratio = b / float(reference_batch)
    return pd.DataFrame({"batch_size": b, "linear": reference_lr * ratio,
                         "sqrt": reference_lr * np.sqrt(ratio)})


def log_log_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log x over finite positive pairs (NaN if < 2)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


# -- step budget vs epoch budget -------------------------------------------------------


def budget_comparison(study: Study | str | os.PathLike, num_train_examples: int,
                      epochs: float, key: str = "batch_size") -> pd.DataFrame:
    """The best value of the study's metric per batch size under a step budget (the
    study's max_train_steps) and under an epoch budget (`epochs` passes over
    `num_train_examples`, i.e. epochs * N / batch_size steps), both read off the
    logged evaluations of every done trial.

    Reading a shorter budget off a longer run is exact only with a constant
    learning rate (a decay schedule depends on max_train_steps), so a study
    whose schedule is not fixed to 'constant' is a ConfigError. An epoch budget
    longer than the study's step budget, or shorter than the first evaluation,
    gives NaN (it was not measured).
    """
    study = load_lib.as_study(study)
    if key not in study.scientific_keys:
        raise ConfigError(f"'{key}' is not a scientific key of the study"
                          f"{closest(key, study.scientific_keys)}; scientific: "
                          f"{', '.join(study.scientific_keys)}")
    schedule = config_lib.get(study.spec.baseline, "schedule") \
        if config_lib.has(study.spec.baseline, "schedule") else None
    if schedule != "constant" or "schedule" in study.nuisance_keys:
        raise ConfigError(f"budget_comparison reads shorter budgets off the logged curves, "
                          f"which equals a shorter run only with a constant learning rate; "
                          f"the study's schedule is {schedule!r}: fix schedule='constant'")
    if num_train_examples <= 0 or epochs <= 0:
        raise ConfigError(f"num_train_examples ({num_train_examples}) and epochs ({epochs}) "
                          f"must be positive")
    sign = Goal.of(study.goal).sign
    done = load_lib.originals(study.trials)
    done = done[done["status"] == "done"]
    rows = []
    for label, group in done.groupby("label", sort=False):
        batch = float(group.iloc[0][key])
        step_budget = float(group["max_train_steps"].max())
        epoch_steps = epochs * num_train_examples / batch
        best = {"step": math.inf, "epoch": math.inf}
        first_eval = math.inf
        for trial_id in group["trial_id"]:
            steps, values = study.curve(trial_id, study.metric)
            ok = np.isfinite(values)
            steps, values = steps[ok], sign * values[ok]
            if len(steps):
                first_eval = min(first_eval, float(steps.min()))
            for name, budget in (("step", step_budget), ("epoch", epoch_steps)):
                within = values[steps <= budget]
                if len(within):
                    best[name] = min(best[name], float(within.min()))
        measured = epoch_steps <= step_budget and epoch_steps >= first_eval
        rows.append({"label": label, key: batch, "step_budget": step_budget,
                     "step_budget_best": sign * best["step"] if best["step"] < math.inf
                     else math.nan,
                     "epoch_budget_steps": epoch_steps,
                     "epoch_budget_best": sign * best["epoch"] if measured else math.nan})
    table = pd.DataFrame(rows).sort_values(key, ignore_index=True)
    table.attrs.update(metric=study.metric, goal=study.goal, epochs=float(epochs),
                       num_train_examples=int(num_train_examples))
    return table


# -- the first max_train_steps ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DurationSuggestion:
    """What a constant-learning-rate sweep says about max_train_steps."""

    metric: str
    target: float
    max_train_steps: int | None      # the fastest trial's first step at the target
    trial_id: str | None
    learning_rate: float | None
    edge: str | None                 # 'low' / 'high' if that lr is at its range's edge
    reaching: int                    # done trials that reach the target
    trials: int                      # done trials
    sweep_steps: int | None          # the sweep's own max_train_steps
    warnings: tuple[str, ...] = ()

    def text(self) -> str:
        """The suggestion and its caveats, as printed by `playbook max-train-steps`."""
        if self.max_train_steps is None:
            lines = [f"no trial reached {self.metric} <= {self.target:g} within "
                     f"{self.sweep_steps} steps ({self.trials} done trials): train the sweep "
                     f"longer, or widen its learning-rate range"]
        else:
            lines = [f"fastest trial {self.trial_id} (learning_rate {self.learning_rate:.4g}) "
                     f"reached {self.metric} <= {self.target:g} at step "
                     f"{self.max_train_steps} of {self.sweep_steps}; {self.reaching} of "
                     f"{self.trials} done trials reached it",
                     f"suggested first max_train_steps: {self.max_train_steps}"]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def max_train_steps_from_sweep(study: Study | str | os.PathLike, target: float,
                               metric: str = "train/loss", lr_key: str = "learning_rate"
                               ) -> DurationSuggestion:
    """The playbook's first max_train_steps from a learning-rate sweep.

    Playbook ("Deciding how long to train when training is not compute-bound"):
    run a learning-rate sweep with a constant schedule and no regularisation;
    the number of steps the fastest trial needs to fit the training set
    (here: to bring `metric` down to `target`) is the first guess for
    max_train_steps. A best learning rate at the edge of the swept range makes
    the guess suspect (all rates too small would call for far too many steps),
    and so do a decay schedule or regularisation; each is a warning.
    """
    study = load_lib.as_study(study)
    _check_metric(study, metric)
    if lr_key not in study.nuisance_keys:
        raise ConfigError(f"'{lr_key}' is not a nuisance hyperparameter of the study"
                          f"{closest(lr_key, study.nuisance_keys)}; a learning-rate sweep "
                          f"searches it (nuisance: {', '.join(study.nuisance_keys) or 'none'})")
    goal = _default_goal(study, metric)
    done = load_lib.originals(study.trials)
    done = done[done["status"] == "done"]
    first = trial_steps_to_result(done, study.curves, metric, target, goal).dropna()
    sweep_steps = (int(done["max_train_steps"].max()) if len(done) else
                   int(config_lib.get(study.spec.baseline, "max_train_steps")))
    warnings = list(_sweep_warnings(study))
    if not len(first):
        return DurationSuggestion(metric, float(target), None, None, None, None, 0, len(done),
                                  sweep_steps, tuple(warnings))
    trial_id = str(first.idxmin())
    row = done[done["trial_id"] == trial_id].iloc[0]
    lr = float(row[lr_key])
    context = study.spec.context(row.to_dict())
    spec = space_findings.resolve(study.spec.nuisance[lr_key], context)
    edge = space_findings.edge_side(spec, lr) if spec is not None else None
    if edge is not None:
        warnings.insert(0, f"the fastest trial's learning rate {lr:.4g} is at the "
                           f"{'lower' if edge == 'low' else 'upper'} edge of the swept range: "
                           f"widen the range and sweep again before trusting the step count")
    return DurationSuggestion(metric, float(target), int(first.min()), trial_id, lr, edge,
                              len(first), len(done), sweep_steps, tuple(warnings))


def _sweep_warnings(study: Study):
    base = study.spec.baseline
    varied = set(study.nuisance_keys) | set(study.scientific_keys)
    schedule = config_lib.get(base, "schedule") if config_lib.has(base, "schedule") else None
    if schedule != "constant" or "schedule" in varied:
        yield (f"the sweep's schedule is {schedule!r}, not a fixed 'constant': the playbook's "
               f"protocol uses a constant learning rate")
    for key in ("weight_decay", "model.dropout"):
        if key in varied or (config_lib.has(base, key) and float(config_lib.get(base, key)) > 0):
            yield (f"'{key}' is not zero: the playbook's protocol sweeps without "
                   f"regularisation")


__all__ = ["DIMINISHING", "MAXIMAL", "PERFECT", "DurationSuggestion", "Regimes",
           "budget_comparison", "classify_regimes", "common_target", "effective_learning_rate",
           "first_step_reaching", "log_log_slope", "max_train_steps_from_sweep",
           "scaling_rules", "steps_to_result", "steps_to_result_table",
           "trial_steps_to_result"]

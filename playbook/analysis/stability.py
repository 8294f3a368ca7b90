"""Where training becomes unstable: the effective learning rate above which every trial
diverged or collapsed, and whether the best trials sit just below it.

Playbook ("Analyzing the results": divergent trials are infeasible; "How can
optimization failures be debugged and mitigated?"): when the best trials sit at
the edge of instability, learning-rate warmup or gradient clipping often lets
higher learning rates train, and the optimum may lie past the edge. For heavy-ball
and Nesterov momentum the step that matters is the effective learning rate
lr / (1 - momentum) (Shallue et al. 2019, "Measuring the Effects of Data
Parallelism on Neural Network Training", section 3; measured on MNIST-1D in
docs/VALIDITY.md: every trial above 4.0 collapsed, every one below 2.0 trained).
For other optimizers the axis is the learning rate. A pure function of the
trials table; nothing is read or drawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from playbook.analysis import load as load_lib
from playbook.analysis.finding import Finding
from playbook.goal import Goal

MOMENTUM_OPTIMIZERS = ("momentum", "nesterov")
JUST_BELOW = 3.0   # the best trial within this factor below the threshold sits "just below" it
MIN_UNSTABLE = 2   # unstable trials needed to call a region unstable


def effective_learning_rate(values: Mapping[str, Any]) -> float | None:
    """lr / (1 - momentum) for momentum optimizers, the learning rate otherwise."""
    lr = _number(values.get("learning_rate"))
    if lr is None:
        return None
    if values.get("optimizer") in MOMENTUM_OPTIMIZERS:
        momentum = _number(values.get("momentum"))
        return lr / (1.0 - momentum) if momentum is not None and momentum < 1 else None
    return lr


def axis_name(values: Mapping[str, Any]) -> str:
    return ("lr / (1 - momentum)" if values.get("optimizer") in MOMENTUM_OPTIMIZERS
            else "learning_rate")


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def instability(trials: pd.DataFrame, goal: str, context: Mapping[str, Any]) -> list[Finding]:
    """Per scientific value with at least `MIN_UNSTABLE` trials that diverged (any
    reason) above every trial that trained: the threshold and where the best trial sits."""
    findings = []
    value_keys = [c for c in trials.columns if c not in load_lib.TRIAL_COLUMNS]
    for label, group in load_lib.originals(trials).groupby("label", sort=False):
        points = []
        for _, row in group.iterrows():
            if not (row["status"] == "diverged" or (row["status"] == "done"
                                                    and not pd.isna(row["objective"]))):
                continue
            values = {**context, **{k: row[k] for k in value_keys if not _missing(row[k])}}
            axis = effective_learning_rate(values)
            if axis is not None:
                points.append((axis, row, axis_name(values)))
        finding = _threshold(label, points, goal)
        if finding is not None:
            findings.append(finding)
    return findings


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _threshold(label: str, points: list, goal: str) -> Finding | None:
    points.sort(key=lambda p: -p[0])
    top = []
    for point in points:
        if point[1]["status"] != "diverged":
            break
        top.append(point)
    stable = [p for p in points if p[1]["status"] == "done"]
    if len(top) < MIN_UNSTABLE or not stable:
        return None
    threshold, last_stable, name = top[-1][0], stable[0][0], top[-1][2]
    if threshold <= last_stable:  # ties: a trial at the threshold trained
        return None
    best = min(stable, key=lambda p: Goal.of(goal).loss(p[1]["objective"]))
    ratio = threshold / best[0]
    # "Just below": the best trial is the highest that trained, or close under the threshold.
    just_below = best[1]["trial_id"] == stable[0][1]["trial_id"] or ratio <= JUST_BELOW
    below = [p for p in points[len(top):] if p[1]["status"] == "diverged"]
    reasons = load_lib.reasons(pd.DataFrame([p[1] for p in top]))
    where = ("the highest that trained, just below the threshold" if
             best[1]["trial_id"] == stable[0][1]["trial_id"] else
             f"x{ratio:.2g} below the threshold, " + ("just below it" if just_below
                                                       else "well below it"))
    message = (f"every {label} trial with {name} >= {threshold:.3g} is infeasible ({len(top)} "
               f"trials: {', '.join(f'{n} {r}' for r, n in reasons.items())}); the highest that "
               f"trained is {last_stable:.3g}; the best trial ({best[1]['trial_id']}, objective "
               f"{best[1]['objective']:.4g}) sits at {best[0]:.3g}, {where}")
    if below:
        message += f"; {len(below)} more infeasible trial(s) lie below {last_stable:.3g}"
    locate = (f" (the threshold lies between {last_stable:.3g} and {threshold:.3g}: trials "
              f"there would locate it)" if threshold / last_stable > JUST_BELOW else "")
    advice = (f"training is unstable just above the best trials: add learning-rate warmup "
              f"(warmup_fraction 0.05-0.1) or gradient clipping (grad_clip_norm) and search "
              f"{name} above {last_stable:.3g} again; the optimum may lie in the unstable "
              f"region{locate}" if just_below else
              f"the best trials are stable with room to spare; the trials above {threshold:.3g} "
              f"only spend budget: narrow the range of {name} below it in the next round")
    return Finding(
        "warning" if just_below else "info", "instability", message,
        {"label": label, "axis": name, "threshold": float(threshold),
         "last_stable": float(last_stable), "unstable": len(top), "reasons": reasons,
         "best_trial": str(best[1]["trial_id"]), "best": float(best[0]),
         "ratio": float(ratio), "just_below": just_below, "infeasible_below": len(below)},
        advice, tuple(str(p[1]["trial_id"]) for p in top))

"""How much each nuisance hyperparameter matters: main effects over the trials.

Playbook ("Choosing the search space"): a nuisance hyperparameter whose axis
plot is flat can be fixed at a good value in the next round, which frees budget
for the ones that matter. "Flat" is measured here, in the manner of fANOVA
(Hutter et al. 2014, "An Efficient Approach for Assessing Hyperparameter
Importance"): the share of the objective's variance that each key's main
effect explains. Main effects are quadratics in each key's unit coordinate
(so a log range counts decades), fitted together by least squares after each
scientific value's mean is taken out (their effect is not a nuisance key's).
A key's importance is what the fit loses without it, in adjusted R^2, which
is about 0 for a key that does not matter however few the trials. The
dashboard's random-forest permutation importance (playbook/dashboard/
importance.py) serves the figure; a rule that fixes keys needs a reliable
zero: on 16 trials whose objective depends on the learning rate alone
(tests/test_rounds.py), it gave the pure-noise key 0.6-8.6% over four draws of
its values, these main effects 0.0 in all four; and a key's own marginal fit
credits it with whatever it happens to share with the keys that matter.
`explained` is the adjusted R^2 of all main effects together: an importance of
nothing is not evidence of flatness. It describes the trials seen, not a causal
effect. A pure function of the trials table and the search space; nothing is
read or drawn.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from playbook import search as hp
from playbook.analysis import load as load_lib

MIN_TRIALS = 8   # done original trials needed before any importance is trusted
INACTIVE = -0.25  # unit coordinate of a conditional key a trial does not have


@dataclasses.dataclass(frozen=True)
class Importance:
    """Each key's share of the variance the main effects explain (shares sum to 1)."""

    share: dict[str, float]   # key -> share, largest first; empty when not computed
    explained: float          # adjusted R^2 of all main effects together
    trials: int               # done original trials it was fitted on
    note: str                 # why no numbers, or what they were computed on


def unit_column(trials: pd.DataFrame, key: str, spec: hp.Spec | hp.Branches,
                context: Mapping[str, Any]) -> np.ndarray:
    """`key`'s values as unit coordinates of the branch in force for each trial."""
    out = []
    keys = [c for c in trials.columns if c not in load_lib.TRIAL_COLUMNS]
    for _, row in trials.iterrows():
        value = row.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out.append(INACTIVE)
            continue
        values = {**context, **{k: row[k] for k in keys if not _missing(row[k])}}
        branch = hp.Dimension(key, spec).resolve(values)
        try:
            out.append(branch.to_unit(value) if branch is not None else INACTIVE)
        except (ValueError, ZeroDivisionError):  # a value outside its spec (hand-edited)
            out.append(INACTIVE)
    return np.asarray(out, dtype=float)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def adjusted_r2(x: np.ndarray, y: np.ndarray) -> float:
    """Adjusted R^2 of the least-squares fit of `y` on the columns of `x` and a constant."""
    n, p = x.shape
    if n - p - 1 <= 0:
        return 0.0
    design = np.column_stack([np.ones(n), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    total = float(np.sum((y - y.mean()) ** 2))
    if total <= 0:
        return 0.0
    r2 = 1.0 - float(np.sum((y - design @ coef) ** 2)) / total
    return 1.0 - (1.0 - r2) * (n - 1) / (n - p - 1)


def _without(columns: Mapping[str, np.ndarray], key: str, y: np.ndarray) -> float:
    """Adjusted R^2 of the main effects of every key but `key`."""
    rest = [c for k, c in columns.items() if k != key]
    return adjusted_r2(np.column_stack(rest), y) if rest else 0.0


def _quadratic(u: np.ndarray) -> np.ndarray:
    centred = u - u.mean()
    return np.column_stack([centred, centred ** 2])


def importance(trials: pd.DataFrame, nuisance: Mapping[str, hp.Spec | hp.Branches], goal: str,
               context: Mapping[str, Any]) -> Importance:
    """The main-effect importance of each nuisance key over the done original trials."""
    done = load_lib.ranked(trials, goal)
    keys = [k for k in nuisance if k in done.columns]
    if len(done) < MIN_TRIALS or not keys:
        return Importance({}, 0.0, len(done), f"needs {MIN_TRIALS} done trials; "
                                              f"{len(done)} so far")
    y = done["objective"].to_numpy(dtype=float)
    y = y - done.groupby("label")["objective"].transform("mean").to_numpy(dtype=float)
    if np.ptp(y) == 0:
        return Importance({}, 0.0, len(done), "every done trial has the same objective")
    columns = {k: _quadratic(unit_column(done, k, nuisance[k], context)) for k in keys}
    if len(done) < 2 * len(keys) + 3:
        return Importance({}, 0.0, len(done), f"needs {2 * len(keys) + 3} done trials for "
                                              f"{len(keys)} keys; {len(done)} so far")
    explained = adjusted_r2(np.column_stack(list(columns.values())), y)
    effects = {k: max(explained - _without(columns, k, y), 0.0) for k in keys}
    total = sum(effects.values())
    if total <= 0:
        return Importance({k: 0.0 for k in keys}, explained, len(done),
                          f"no nuisance key explains the objective of {len(done)} done trials")
    share = dict(sorted(((k, v / total) for k, v in effects.items()), key=lambda kv: -kv[1]))
    return Importance(share, explained, len(done), f"main effects over {len(done)} done trials "
                                                   f"(adjusted R^2 {explained:.2f})")

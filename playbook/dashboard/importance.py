"""Hyperparameter importance: which scientific and nuisance keys explain the objective.

A random forest (scikit-learn) is fitted to the objective of the done original
trials, as in W&B's parameter-importance panel and Optuna's importance
evaluators, and each key's importance is how much the forest's fit worsens when
that key's values are shuffled (permutation importance), normalised to sum to
1. Impurity-based importance was not used: with a few dozen trials it gives a
key that does not matter a fifth of the total. Log-scaled ranges are
fitted on log10 of the value, categories on their codes, and a conditional key
that a trial does not have (NaN) on a value below its range. It describes the
trials seen, not a causal effect; with fewer than MIN_TRIALS done trials it
returns no numbers.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from playbook import search as hp
from playbook.analysis import load as load_lib
from playbook.analysis.load import Study

MIN_TRIALS = 5
TREES = 64
REPEATS = 5  # shuffles per key


@dataclasses.dataclass(frozen=True)
class Importance:
    """Each key's importance (summing to 1, largest first) and what it was computed on."""

    importances: dict[str, float]
    trials: int
    note: str


def importance(study: Study) -> Importance:
    """The importance of every key that varies among the done original trials."""
    done = load_lib.ranked(study.trials, study.goal)
    features = features_table(study, done)
    if len(done) < MIN_TRIALS or features.shape[1] == 0:
        return Importance({}, len(done), f"needs {MIN_TRIALS} done trials with a varying "
                                         f"hyperparameter; {len(done)} so far")
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    x, y = features.to_numpy(dtype=float), done["objective"].to_numpy(dtype=float)
    forest = RandomForestRegressor(n_estimators=TREES, random_state=0, n_jobs=1).fit(x, y)
    shuffled = permutation_importance(forest, x, y, n_repeats=REPEATS, random_state=0)
    raw = np.clip(shuffled.importances_mean, 0.0, None)
    if raw.sum() <= 0:
        return Importance({}, len(done), f"no hyperparameter explains the objective of the "
                                         f"{len(done)} done trials")
    scores = dict(zip(features.columns, (raw / raw.sum()).tolist()))
    ordered = dict(sorted(scores.items(), key=lambda kv: -kv[1]))
    return Importance(ordered, len(done), f"random forest over {len(done)} done trials")


def features_table(study: Study, trials: pd.DataFrame) -> pd.DataFrame:
    """One numeric column per key that takes more than one value among `trials`."""
    columns = {}
    for key in (*study.scientific_keys, *study.nuisance_keys):
        values = trials[key]
        if values.astype(str).nunique(dropna=False) < 2:
            continue
        columns[key] = _numeric(values, study.spec.nuisance.get(key))
    return pd.DataFrame(columns, index=trials.index)


def _numeric(values: pd.Series, spec) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().sum() != values.notna().sum():  # categories: their codes
        codes = {v: i for i, v in enumerate(dict.fromkeys(str(v) for v in values))}
        return np.array([codes[str(v)] for v in values], dtype=float)
    numbers = numbers.to_numpy(dtype=float)
    branches = [b for _, b in spec.branches] if isinstance(spec, hp.Branches) else [spec]
    if spec is not None and all(getattr(b, "scale", "") == "log" for b in branches):
        with np.errstate(all="ignore"):
            numbers = np.log10(numbers)
    finite = numbers[np.isfinite(numbers)]
    below = (finite.min() - (np.ptp(finite) or 1.0)) if len(finite) else 0.0
    return np.where(np.isfinite(numbers), numbers, below)

"""Expected validation performance: the best objective a scientific value reaches, in
expectation, after n tuning trials, for n = 1 up to the study's budget.

Dodge et al. 2019 ("Show Your Work: Improved Reporting of Experimental
Results", section 3): with the N trials of a value as an empirical distribution,
the expected best of n trials drawn with replacement is
sum_i v_(i) [((N - i + 1) / N)^n - ((N - i) / N)^n] over the values sorted
best first. A comparison of two values depends on the budget: Choi et al. 2019
("On Empirical Comparisons of Optimizers for Deep Learning") show rankings
that flip as the tuning budget grows. The bands here are percentile bootstrap
intervals (the N trials resampled with replacement). An infeasible trial is a
draw that yields nothing better than the worst feasible objective of the
study, so it counts as that value (a pessimistic stand-in; it cannot be the
best of n unless all n are infeasible). Pure functions; nothing is read or drawn.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from playbook.analysis import load as load_lib
from playbook.goal import Goal

BOOTSTRAP = 1000
LEVEL = 0.95


@dataclasses.dataclass(frozen=True)
class Curve:
    """Expected best objective after n = 1..len(mean) trials, with its bootstrap band."""

    label: str
    trials: int          # N: the value's ended original trials
    infeasible: int      # of which infeasible
    mean: np.ndarray     # [budget]
    low: np.ndarray      # band, the better end first for neither goal: low <= high always
    high: np.ndarray

    @property
    def n(self) -> np.ndarray:
        return np.arange(1, len(self.mean) + 1)


def weights(num: int, budget: int) -> np.ndarray:
    """[num, budget]: probability that the i-th best of `num` values is the best of n draws."""
    i = np.arange(num)[:, None]
    n = np.arange(1, budget + 1)[None, :]
    return ((num - i) / num) ** n - ((num - i - 1) / num) ** n


def expected_best(values: np.ndarray, goal: str, budget: int) -> np.ndarray:
    """Expected best of n draws with replacement from `values`, n = 1..budget."""
    x = Goal.of(goal).sign * np.sort(Goal.of(goal).sign * np.asarray(values, float))
    return x @ weights(len(x), budget)


def curve(label: str, values: np.ndarray, infeasible: int, goal: str, budget: int,
          worst: float, rng: np.random.Generator, boot: int = BOOTSTRAP) -> Curve:
    """The curve of one scientific value: its feasible `values` and `infeasible` draws
    standing in as `worst`."""
    draws = np.concatenate([np.asarray(values, float), np.full(infeasible, worst)])
    mean = expected_best(draws, goal, budget)
    s = Goal.of(goal).sign
    samples = np.sort(s * rng.choice(draws, size=(boot, len(draws)), replace=True), axis=1)
    curves = s * (samples @ weights(len(draws), budget))
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(curves, [tail, 100 - tail], axis=0)
    return Curve(label, len(draws), infeasible, mean, low, high)


def curves(trials: pd.DataFrame, goal: str, labels: list[str], budget: int | None = None,
           seed: int = 0) -> dict[str, Curve]:
    """Per scientific label with a done trial, its curve up to `budget` (default: the
    largest number of ended original trials of any label)."""
    ended = load_lib.originals(trials)
    ended = ended[ended["status"].isin(load_lib.ENDED)]
    done = ended[(ended["status"] == "done") & ended["objective"].notna()]
    if done.empty:
        return {}
    worst = float(Goal.of(goal).sign * np.max(Goal.of(goal).sign * done["objective"]))
    counts = ended.groupby("label").size()
    budget = budget or int(counts.max())
    rng = np.random.default_rng(seed)
    out = {}
    for label in labels:
        mine = ended[ended["label"] == label]
        values = done.loc[done["label"] == label, "objective"].to_numpy(float)
        if len(values):
            out[label] = curve(label, values, int((mine["status"] != "done").sum()), goal,
                               budget, worst, rng)
    return out


@dataclasses.dataclass(frozen=True)
class Ranking:
    """Which value leads at each n, where the lead changes, and whether the bands of the
    two best values overlap at the budget."""

    leaders: list[str]               # leader at n = 1..budget
    flips: list[tuple[int, str]]     # (n, new leader) where the lead changes
    overlap_at_budget: bool
    budget: int


def ranking(found: dict[str, Curve], goal: str) -> Ranking | None:
    """The ranking of the curves by their expected best (None with fewer than two)."""
    if len(found) < 2:
        return None
    labels = list(found)
    s = Goal.of(goal).sign
    means = np.stack([s * found[label].mean for label in labels])  # smaller is better
    budget = means.shape[1]
    leaders = [labels[int(k)] for k in np.argmin(means, axis=0)]
    flips = [(n + 1, leaders[n]) for n in range(1, budget) if leaders[n] != leaders[n - 1]]
    first, second = (found[labels[int(k)]] for k in np.argsort(means[:, -1])[:2])
    overlap = bool(first.low[-1] <= second.high[-1] and second.low[-1] <= first.high[-1])
    return Ranking(leaders, flips, overlap, budget)

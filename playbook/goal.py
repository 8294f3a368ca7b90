"""A metric's goal: whether smaller or larger values are better.

The one place the direction of a metric is interpreted. Configs, study files and
result files keep the goal as the string 'minimize' or 'maximize'; code that
compares, ranks or orients values asks a `Goal` (`Goal.of(string)`), so the
sign logic lives here and nowhere else. No JAX, no pandas: every layer imports it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping

import numpy as np

from playbook.errors import ConfigError, closest

MINIMIZE = "minimize"
MAXIMIZE = "maximize"
GOALS = (MINIMIZE, MAXIMIZE)

# Words of a metric's name that say its direction (`Goal.from_name`).
_MINIMIZED = {"loss", "error", "err", "errors", "perplexity", "ppl", "mse", "mae", "rmse", "nll",
              "wer", "cer", "bpd", "bits", "xent", "cross_entropy", "regret", "distance"}
_MAXIMIZED = {"accuracy", "acc", "auc", "auroc", "f1", "precision", "recall", "bleu", "rouge",
              "map", "iou", "miou", "score", "reward", "return", "top1", "top5", "r2"}


def check(goal: str, key: str = "goal") -> str:
    """`goal` if it is 'minimize' or 'maximize'; ConfigError naming `key` otherwise."""
    if goal not in GOALS:
        raise ConfigError(f"'{key}' must be one of {', '.join(GOALS)}, got {goal!r}"
                          f"{closest(str(goal), GOALS)}")
    return goal


@dataclasses.dataclass(frozen=True)
class Goal:
    """The direction of one metric. `Goal.of('minimize')`, `Goal.of('maximize')`."""

    direction: str

    def __post_init__(self):
        check(self.direction)

    @classmethod
    def of(cls, goal: str | Goal) -> Goal:
        return goal if isinstance(goal, Goal) else cls(goal)

    @property
    def minimize(self) -> bool:
        return self.direction == MINIMIZE

    @property
    def sign(self) -> float:
        """+1 when smaller is better, -1 when larger is: `sign * value` is minimised."""
        return 1.0 if self.minimize else -1.0

    @property
    def word(self) -> str:
        """'lower' or 'higher': which values are better, for people."""
        return "lower" if self.minimize else "higher"

    @property
    def reaches(self) -> str:
        """'<=' or '>=': how a value reaches a target."""
        return "<=" if self.minimize else ">="

    def loss(self, value: float) -> float:
        """`value` oriented so that smaller is better."""
        return self.sign * value

    def score(self, value: float | None) -> float:
        """`value` oriented so that larger is better; a missing or NaN value is -inf."""
        if value is None or math.isnan(value):
            return -math.inf
        return -self.sign * value

    def reached(self, values, target: float):
        """Elementwise: whether `values` reach `target` (<= when minimising)."""
        return values <= target if self.minimize else values >= target

    def best(self, values: Iterable[float]) -> float:
        """The best finite value of `values`; NaN if none is finite."""
        v = np.asarray(list(values), dtype=float)
        v = v[np.isfinite(v)]
        if not len(v):
            return math.nan
        return float(v.min() if self.minimize else v.max())

    def worst(self, values: Iterable[float]) -> float:
        """The worst finite value of `values`; NaN if none is finite."""
        return Goal(MAXIMIZE if self.minimize else MINIMIZE).best(values)

    @staticmethod
    def from_name(metric: str) -> Goal | None:
        """The goal the words of `metric`'s name say (error, loss: minimize; accuracy:
        maximize), else None."""
        words = set(re.split(r"[^a-z0-9]+", metric.lower())) - {""}
        words |= {"cross_entropy"} if "cross_entropy" in metric.lower() else set()
        low, high = bool(words & _MINIMIZED), bool(words & _MAXIMIZED)
        if low == high:
            return None
        return Goal(MINIMIZE if low else MAXIMIZE)


def validation_metric(metric: str, metric_goals: Mapping[str, str], workload: str) -> Goal:
    """The goal of `metric` ('valid/<name>') among a workload's `metric_goals`;
    ConfigError naming the valid metrics otherwise. The one check of a selection metric."""
    split, _, name = metric.partition("/")
    valid = [f"valid/{m}" for m in metric_goals]
    if split != "valid" or name not in metric_goals:
        raise ConfigError(f"metric '{metric}' is not a validation metric of workload "
                          f"'{workload}'{closest(metric, valid)}; valid metrics: "
                          f"{', '.join(valid)}")
    return Goal(metric_goals[name])

"""Telling a trial that learned from one at chance, and one that collapsed back to it.

A trial that ends where a model predicting nothing would be has not produced a
result: its retrospective best checkpoint may predate a collapse (and would
rank it among good trials), or a dip of evaluation noise may pass for
learning, although the same hyperparameters cannot train. Such a trial is
infeasible (Playbook, "Analyzing the results": treat divergent trials as
infeasible), recorded `diverged` with reason `collapsed` when it had clearly
learned first, else `at_chance`.

Chance levels (`ChanceLevel`): a metric's value for the best constant
prediction. For classification (and next-token prediction) they follow from
the training labels' class frequencies: the loss is their entropy (ln C for C
balanced classes), the error rate 1 - the largest frequency, the accuracy that
frequency. A workload may declare others (`chance_levels(dataset)`, e.g. the
targets' variance for a squared error), and a config declares its metric's own
with `metric_chance` (an external trainer's data is unknown to playbook, so
this is its only source). Without one, a trial at chance cannot be told from
one that learned, and the findings say so rather than guess.

The rules (measured on MNIST-1D, digits, a synthetic language model and
external trainers; docs/VALIDITY.md):

- *ended at chance*: the median of the metric's last `ENDING` evaluations is
  within the margin of its chance level (`ChanceLevel.at_chance`): the largest
  of a relative margin (`AT_CHANCE_ERROR` of the chance error for error rates
  and accuracies, `AT_CHANCE` of the chance loss for log losses,
  `AT_CHANCE_OTHER` for other metrics), three binomial standard errors of a
  rate on the validation split, and the standard deviation of those last
  evaluations (the evaluation noise of a trainer whose validation split
  playbook cannot see), so a noisy dip is not learning. Judged whatever
  happened earlier;
- *learned*: the training loss fell clearly below chance (by `LEARNED`) in
  `LEARNED_POINTS` consecutive log intervals (one noisy interval is not
  learning); where the training loss's chance level is unknown (a regression,
  an external trainer), `LEARNED_POINTS` evaluations of the metric beyond the
  margin of its chance level;
- *collapsed*: a trial that learned and then has every log interval of the
  last `WINDOW` of `max_train_steps` (at least `MIN_POINTS` intervals) at
  chance (a log interval is at chance when its mean training loss is at least
  `1 - AT_CHANCE` times the chance loss; training may stop there), or that
  learned and ended at chance;
- *at chance*: a trial that never learned and ended at chance.

A trial that ends clearly better than chance is `done`, however slowly it
started. A spike that recovers within the window is not a collapse, and a run
of fewer than `MIN_POINTS` log intervals is never judged (a smoke test of a
few steps, whose batch-norm statistics may not have warmed up). Pure
bookkeeping on numbers: no JAX, no I/O.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from playbook.errors import ConfigError
from playbook.goal import Goal

AT_CHANCE = 0.02   # within 2% of the chance loss (measured: collapsed 2.2996-2.3026 vs ln 10)
LEARNED = 0.10     # "has learned": the loss fell 10% below chance at some log interval
WINDOW = 0.10      # fraction of max_train_steps the loss must stay at chance
MIN_POINTS = 3     # and at least this many consecutive log intervals

LEARNED_POINTS = 2  # consecutive log intervals clearly below chance
AT_CHANCE_ERROR = 0.05  # measured: collapsed 0.876-0.912 vs chance 0.9; learning trials <= 0.66
AT_CHANCE_OTHER = 0.05  # other metrics (squared errors, ...): within 5% of chance
NOISE_SE = 3.0     # binomial standard errors of a rate that count as evaluation noise
ENDING = 3         # the last evaluations whose median is where a trial ended
LABEL_SAMPLE = 256  # examples whose labels give the class frequencies of a split read on demand
LABELS_PER_CLASS = 20  # fewer sampled labels per class: assume balanced classes


def class_frequencies(split, num_classes: int) -> np.ndarray | None:
    """Frequencies of the integer labels of `split`; None when they are not class indices.

    A split read on demand (records) is sampled (`LABEL_SAMPLE` examples); when such a
    sample would hold fewer than `LABELS_PER_CLASS` labels per class (ImageNet's 1000
    classes), the classes are taken as balanced without reading anything.
    """
    if split is None or num_classes <= 0 or len(split) == 0:
        return None
    labels = split.labels
    if not isinstance(labels, np.ndarray):  # read on demand
        per_example = int(np.prod(getattr(labels, "shape", (0, 1))[1:]))
        size = min(len(split), LABEL_SAMPLE)
        if size * per_example < LABELS_PER_CLASS * num_classes:
            return np.full(num_classes, 1.0 / num_classes)
        idx = np.random.default_rng(0).choice(len(split), size, replace=False)
        labels = np.asarray(labels[np.sort(idx)])
    if not np.issubdtype(labels.dtype, np.integer):
        return None
    labels = labels.reshape(-1).astype(np.int64)
    if labels.size == 0 or labels.min() < 0 or labels.max() >= num_classes:
        return None
    counts = np.bincount(labels, minlength=num_classes)
    return counts / counts.sum()


def chance_levels(frequencies: np.ndarray | None) -> tuple[float | None, float | None]:
    """(loss, error rate) of the best constant prediction given class `frequencies`: their
    entropy (ln C for C balanced classes) and 1 - the largest frequency."""
    if frequencies is None:
        return None, None
    p = frequencies[frequencies > 0]
    return float(-(p * np.log(p)).sum()), float(1.0 - frequencies.max())


RATES = ("error_rate", "accuracy")  # metrics that are a share of examples
CHANCE_KEY = "metric_chance"  # a config's declared chance level of its metric


@dataclasses.dataclass(frozen=True)
class ChanceLevel:
    """The value of a metric at chance, and how close to it a value counts as there."""

    metric: str    # 'valid/error_rate', 'eval_accuracy', ...
    value: float   # the metric of the best constant prediction
    goal: str      # 'minimize' | 'maximize'
    margin: float  # a value no better than value - margin (in the goal's direction) is at chance
    source: str    # 'labels' (class frequencies), 'workload', or 'declared' (metric_chance)

    def at_chance(self, value: float, noise: float = 0.0) -> bool:
        """`value` is no better than chance by more than the margin, or than `noise` (the
        spread of the evaluations it summarises) where that is larger; NaN: not judged."""
        if not math.isfinite(value):
            return False
        margin = max(self.margin, noise if math.isfinite(noise) else 0.0)
        return Goal.of(self.goal).loss(value) >= Goal.of(self.goal).loss(self.value) - margin

    def describe(self) -> str:
        return f"{self.metric} {self.value:.4g} at chance ({self.source}; margin {self.margin:.2g})"


def margin_of(metric: str, value: float, num_valid: int | None = None) -> float:
    """The margin within which a value of `metric` counts as at chance `value`: relative
    (see the module docstring), and for a rate at least `NOISE_SE` binomial standard errors
    on `num_valid` examples."""
    name = metric.split("/")[-1]
    if any(name.endswith(rate) for rate in RATES):
        error = 1.0 - value if name.endswith("accuracy") else value
        margin = AT_CHANCE_ERROR * abs(error)
        if num_valid:
            margin = max(margin, NOISE_SE * math.sqrt(max(error * (1 - error), 0.0) / num_valid))
        return margin
    if name.endswith("loss"):
        return AT_CHANCE * abs(value)
    return AT_CHANCE_OTHER * abs(value)


def chance_level(metric: str, goal: str, *, frequencies: np.ndarray | None = None,
                 workload: Mapping[str, float] | None = None, declared: float | None = None,
                 num_valid: int | None = None) -> ChanceLevel | None:
    """The chance level of `metric` ('valid/x' or a trainer's own name): `declared` (the
    config's metric_chance) first, then the workload's (keyed by 'x' or the full name),
    then the class frequencies' for a loss, an error rate or an accuracy; None if unknown."""
    name = metric.split("/", 1)[-1]
    value, source = None, ""
    if declared is not None:
        value, source = float(declared), "declared"
    elif workload and (metric in workload or name in workload):
        value, source = float(workload.get(metric, workload.get(name))), "workload"
    elif frequencies is not None and name in ("loss", "error_rate", "accuracy"):
        loss, error = chance_levels(frequencies)
        value = {"loss": loss, "error_rate": error, "accuracy": 1.0 - error}[name]
        source = "labels"
    if value is None or not math.isfinite(value):
        return None
    return ChanceLevel(metric, value, goal, margin_of(metric, value, num_valid), source)


def declared(value) -> float | None:
    """A config's `metric_chance` (None when unset); ConfigError when it is not a finite
    number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{CHANCE_KEY} must be a finite number, the metric's value at "
                          f"chance (e.g. {CHANCE_KEY}=0.5 for a balanced two-class accuracy), "
                          f"got {value!r}")
    return float(value)


def declared_in(config: Mapping) -> float | None:
    """The `metric_chance` a config declares (`declared`), None when it declares none."""
    return declared(config.get(CHANCE_KEY, None))


def ended_at(values: Sequence[float]) -> tuple[float, float]:
    """Where a metric's evaluations ended, and how noisy they were there: the median of
    the last `ENDING` finite ones (a single noisy evaluation is not where a trial is) and
    their standard deviation (0 for one); NaN when there are none."""
    last = [float(v) for v in values if math.isfinite(float(v))][-ENDING:]
    if not last:
        return math.nan, math.nan
    return float(np.median(last)), float(np.std(last, ddof=1)) if len(last) > 1 else 0.0


@dataclasses.dataclass
class Watch:
    """Follows a trial's logged training loss and says when it has collapsed.

    `note(step, loss, initial_loss)` at every log interval; `collapsed_now()`
    after it (the early stop), `verdict(chance, evaluations)` when training ends.
    """

    max_train_steps: int
    chance: float | None = None  # chance loss of the training labels, if known
    level: float = math.nan      # the chance level in force (chance, or the initial loss)
    learned: bool = False        # the loss fell clearly below the level (LEARNED_POINTS in a row)
    noted: int = 0               # log intervals noted
    clearly_below: int = 0       # consecutive intervals clearly below the level, up to now
    since: int | None = None     # first step of the current at-chance stretch
    points: int = 0              # log intervals in that stretch
    last: int = 0                # step of the last interval noted

    def note(self, step: int, loss: float, initial_loss: float = math.nan) -> None:
        if math.isnan(self.level):
            self.level = self.chance if self.chance is not None else float(initial_loss)
        if not math.isfinite(loss) or not math.isfinite(self.level) or self.level <= 0:
            return
        self.noted += 1
        self.clearly_below = self.clearly_below + 1 if loss < (1.0 - LEARNED) * self.level else 0
        self.learned |= self.clearly_below >= LEARNED_POINTS
        if loss >= (1.0 - AT_CHANCE) * self.level:
            if self.since is None:
                self.since = self.last  # the stretch covers the interval ending at `step`
            self.points += 1
        else:
            self.since, self.points = None, 0
        self.last = step

    def _window_full(self) -> bool:
        window = max(WINDOW * self.max_train_steps, 1)
        return (self.since is not None and self.points >= MIN_POINTS
                and self.last - self.since >= window)

    def collapsed_now(self) -> bool:
        """Collapsed after having learned: training may stop (it cannot become feasible)."""
        return self.learned and self._window_full()

    def verdict(self, chance: ChanceLevel | None, evaluations: Sequence[float] = ()
                ) -> str | None:
        """At the end of training: 'collapsed' (learned, then the last window of training
        at chance, or ended at chance), 'at_chance' (never learned and ended at chance:
        the median of the metric's last `evaluations` within `chance`'s margin), or None
        (a result). A run with a training loss of fewer than `MIN_POINTS` log intervals
        is never judged; one without any (an external trainer that reports final metrics
        only) is judged on its evaluations alone."""
        if 0 < self.noted < MIN_POINTS:  # too short a run to judge (a smoke test)
            return None
        ended, noise = ended_at(evaluations)
        if chance is not None and chance.at_chance(ended, noise):
            return "collapsed" if self._learned(chance, evaluations, noise) else "at_chance"
        return "collapsed" if self.learned and self._window_full() else None

    def _learned(self, chance: ChanceLevel, evaluations: Sequence[float], noise: float
                 ) -> bool:
        """Learned before it ended at chance: by the training loss against its chance level
        where that is known, else by `LEARNED_POINTS` evaluations of the metric beyond the
        margin of chance, or the `noise` of the last ones (a loss that fell from its initial
        value may still be worse than predicting the mean)."""
        if self.chance is not None:
            return self.learned
        clearly = [v for v in evaluations if math.isfinite(v) and not chance.at_chance(v, noise)]
        return len(clearly) >= LEARNED_POINTS
